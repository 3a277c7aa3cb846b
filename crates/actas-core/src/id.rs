//! Identifiers.
//!
//! Ids are a short type prefix and 20 random base32 characters
//! (`ses_7k2m...`): readable in a log line, unguessable, sortable by nothing.

use rand::Rng;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new random id with the given prefix, e.g. `new_id("req")`.
pub fn new_id(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(prefix.len() + 21);
    s.push_str(prefix);
    s.push('_');
    for _ in 0..20 {
        s.push(char::from(ALPHABET[rng.gen_range(0..32)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let a = new_id("ses");
        let b = new_id("ses");
        assert!(a.starts_with("ses_"));
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
    }
}
