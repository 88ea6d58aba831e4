//! S3 event notifications URL-encode object keys (`+` for a space, `%3D` for `=` in Hive-style
//! partitions); this undoes it.

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte. A `%` not
/// followed by two hex digits is kept as it is. Returns `None` if the bytes are not UTF-8.
pub fn form_decode(text: &str) -> Option<String> {
    // A `+` in the key itself arrives as `%2B`: only literal ones are spaces.
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
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
