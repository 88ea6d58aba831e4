//! Where the columns the aggregation reads are, in a format.

use crate::field::Field;
use crate::format::Format;

/// Column positions of the fields the aggregation reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub(super) columns: usize,
    pub(super) status: Option<usize>,
    pub(super) interface: Option<usize>,
    pub(super) src: Option<usize>,
    pub(super) pkt_src: Option<usize>,
    pub(super) dst: Option<usize>,
    pub(super) pkt_dst: Option<usize>,
    pub(super) src_port: Option<usize>,
    pub(super) dst_port: Option<usize>,
    pub(super) protocol: Option<usize>,
    pub(super) packets: Option<usize>,
    pub(super) bytes: Option<usize>,
    pub(super) start: Option<usize>,
    pub(super) end: Option<usize>,
    pub(super) action: Option<usize>,
    pub(super) tcp_flags: Option<usize>,
    pub(super) direction: Option<usize>,
}

impl Layout {
    pub(super) fn of(format: &Format) -> Layout {
        Layout {
            columns: format.len(),
            status: format.position(Field::LogStatus),
            interface: format.position(Field::InterfaceId),
            src: format.position(Field::SrcAddr),
            pkt_src: format.position(Field::PktSrcAddr),
            dst: format.position(Field::DstAddr),
            pkt_dst: format.position(Field::PktDstAddr),
            src_port: format.position(Field::SrcPort),
            dst_port: format.position(Field::DstPort),
            protocol: format.position(Field::Protocol),
            packets: format.position(Field::Packets),
            bytes: format.position(Field::Bytes),
            start: format.position(Field::Start),
            end: format.position(Field::End),
            action: format.position(Field::Action),
            tcp_flags: format.position(Field::TcpFlags),
            direction: format.position(Field::FlowDirection),
        }
    }
}
