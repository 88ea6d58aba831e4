//! S3 event notifications URL-encode object keys (`+` for a space, `%3D` for `=` in Hive-style
//! partitions); this undoes it.

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte. A `%` not
/// followed by two hex digits is kept as it is. Returns `None` if the bytes are not UTF-8.
pub fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(byte: Option<&u8>) -> Option<u8> {
    let b = *byte?;
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_space_and_percent_escapes_are_bytes() {
        assert_eq!(form_decode("red+flower.jpg").unwrap(), "red flower.jpg");
        assert_eq!(form_decode("a%2Bb").unwrap(), "a+b");
        assert_eq!(
            form_decode("AWSLogs/aws-account-id%3D123456789012/aws-service%3Dvpcflowlogs/x.log.gz")
                .unwrap(),
            "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/x.log.gz"
        );
        assert_eq!(form_decode("caf%C3%A9").unwrap(), "café");
    }

    #[test]
    fn stray_percent_signs_are_kept() {
        assert_eq!(form_decode("100%").unwrap(), "100%");
        assert_eq!(form_decode("5%zz").unwrap(), "5%zz");
        assert_eq!(form_decode("%4").unwrap(), "%4");
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert_eq!(form_decode("%FF%FE"), None);
    }
}
