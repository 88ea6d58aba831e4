//! The split of a set of datums into `PutMetricData` requests.

use super::datum::Datum;
use super::limits::{
    BatchError, MAX_DATUMS_PER_REQUEST, MAX_REQUEST_BYTES, validate, validate_namespace,
};
use super::size::{base_size, encoded_size};

/// Splits `datums`, in order, into `PutMetricData` requests for `namespace`.
///
/// Each batch has at most [`MAX_DATUMS_PER_REQUEST`] datums and an estimated body (the request
/// overhead plus the [`encoded_size`] of its datums) of at most [`MAX_REQUEST_BYTES`]; a new
/// batch starts only when the next datum would break either limit, so the split depends on the
/// datums alone. Fails, returning nothing, if the namespace or any datum would be refused.
pub fn batches(namespace: &str, datums: Vec<Datum>) -> Result<Vec<Vec<Datum>>, BatchError> {
    validate_namespace(namespace)?;
    for datum in &datums {
        validate(datum)?;
    }
    let base = base_size(namespace);
    let mut out = Vec::new();
    let mut batch: Vec<Datum> = Vec::new();
    let mut size = base;
    for datum in datums {
        let datum_size = encoded_size(&datum);
        // Validation bounds a datum far below the limit (30 dimensions of 1024 reserved
        // characters come to about 120 kB), so a lone datum always fits.
        debug_assert!(base + datum_size <= MAX_REQUEST_BYTES);
        if batch.len() == MAX_DATUMS_PER_REQUEST || size + datum_size > MAX_REQUEST_BYTES {
            out.push(std::mem::take(&mut batch));
            size = base;
        }
        size += datum_size;
        batch.push(datum);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    Ok(out)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::datum::Dimension;
    use crate::metrics::limits::MAX_DIMENSIONS;
    use crate::metrics::names::*;
    use crate::metrics::object::traffic_datums;
    use crate::metrics::testing::*;

    #[test]
    fn batches_split_at_exactly_1000_datums() {
        let one = batches("FlowLogs", many(1000)).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].len(), 1000);

        let two = batches("FlowLogs", many(1001)).unwrap();
        let sizes: Vec<usize> = two.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1000, 1]);
        assert_eq!(two.concat(), many(1001), "order is preserved");

        assert!(batches("FlowLogs", Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn long_dimension_values_split_batches_on_size_before_1000_datums() {
        for value in ["a".repeat(1000), "/".repeat(1000)] {
            let datums: Vec<Datum> = (0..1000)
                .map(|i| datum(FLOWS, vec![dimension("Path", &value)], i as f64))
                .collect();
            let split = batches("FlowLogs", datums.clone()).unwrap();
            assert!(split.len() > 1, "{} batches", split.len());
            assert!(split[0].len() < 1000);
            for batch in &split {
                let estimate: usize =
                    base_size("FlowLogs") + batch.iter().map(encoded_size).sum::<usize>();
                assert!(estimate <= MAX_REQUEST_BYTES, "{estimate}");
                assert!(real_body("FlowLogs", batch).len() <= estimate);
            }
            assert_eq!(split.concat(), datums);
        }
    }

    #[test]
    fn thirty_dimensions_of_maximal_values_still_split_into_valid_batches() {
        let dimensions: Vec<Dimension> = (0..MAX_DIMENSIONS)
            .map(|_| dimension("Key", &"é/".repeat(512)))
            .collect();
        let datums = vec![datum(FLOWS, dimensions, 1.0); 40];
        let split = batches("FlowLogs", datums).unwrap();
        for batch in &split {
            let estimate: usize =
                base_size("FlowLogs") + batch.iter().map(encoded_size).sum::<usize>();
            assert!(estimate <= MAX_REQUEST_BYTES);
            assert!(real_body("FlowLogs", batch).len() <= estimate);
        }
        assert!(split.len() > 1);
    }

    #[test]
    fn the_same_object_gives_the_same_datums_and_batches() {
        // Many tied sources: the aggregator's randomly seeded hash order must not show.
        let lines: Vec<String> = (0..300)
            .map(|i| {
                flow(
                    &format!("10.0.{}.{}", i / 200, i % 200),
                    T + i % 120,
                    1,
                    10,
                    "ACCEPT",
                )
            })
            .collect();
        let first = traffic_datums(&aggregate(&lines), 50, NOW);
        let second = traffic_datums(&aggregate(&lines), 50, NOW);
        assert_eq!(first, second);
        assert_eq!(first.top_sources[0].to_string(), "10.0.0.0");
        let first = batches("FlowLogs", first.datums).unwrap();
        let second = batches("FlowLogs", second.datums).unwrap();
        assert_eq!(first, second);
    }
}
