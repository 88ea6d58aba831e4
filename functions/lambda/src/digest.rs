//! FNV-1a 64 over a sequence of byte fields: the stable names the functions persist (summary
//! ids, log-batch entity tags, publish-ledger batch fingerprints). Not a cryptographic hash: it
//! only has to be the same for the same fields on every delivery and in every build, so its
//! values must never change.

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;
/// The salt of the second half of [`digest_128`].
const SECOND_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// FNV-1a 64 over fields, each followed by a `0xff` byte (so `["ab", "c"]` and `["a", "bc"]`
/// differ), started from the offset basis xor a salt.
#[derive(Debug, Clone, Copy)]
pub struct FieldDigest(u64);

impl Default for FieldDigest {
    fn default() -> Self {
        FieldDigest::salted(0)
    }
}

impl FieldDigest {
    /// The plain FNV-1a 64 offset basis xor `salt`.
    pub const fn salted(salt: u64) -> FieldDigest {
        FieldDigest(OFFSET_BASIS ^ salt)
    }

    /// Adds one field.
    pub fn field(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().chain(&[0xff]) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(PRIME);
        }
    }

    /// The digest of the fields added so far.
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// A 128-bit digest as 32 hex digits: two [`FieldDigest`]s over `fields`, the second salted.
pub fn digest_128<F: AsRef<[u8]>>(fields: impl IntoIterator<Item = F> + Clone) -> String {
    let half = |salt: u64| {
        let mut digest = FieldDigest::salted(salt);
        for field in fields.clone() {
            digest.field(field.as_ref());
        }
        digest.finish()
    };
    format!("{:016x}{:016x}", half(0), half(SECOND_SALT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_pinned() {
        // Persisted ids: another value would orphan what is stored under the old ones.
        assert_eq!(digest_128(["1", "2"]), "40e56fed1ecb4a6add23d96813980cc7");
        assert_eq!(
            digest_128(["logs", "k", "1"]),
            "519b96e5ebd089a156f4ad3825e96fbe"
        );
        assert_eq!(
            digest_128(Vec::<&str>::new()),
            "cbf29ce48422232555c5e55dfb685f30"
        );
        assert_eq!(FieldDigest::default().finish(), OFFSET_BASIS);
    }

    #[test]
    fn field_boundaries_count() {
        assert_ne!(digest_128(["ab", "c"]), digest_128(["a", "bc"]));
        assert_ne!(digest_128(["a"]), digest_128(["a", ""]));
    }
}
