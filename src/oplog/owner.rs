//! Ownership: a database belongs to the key its name ends with.

use super::*;

/// Check that `db_name` is `{name}-{public_key_hex}` with a non-empty name of
/// letters, digits, `_` and `-`, owned by `public_key_hex`.
pub fn check_owner(db_name: &str, public_key_hex: &str) -> Result<()> {
    let pk = public_key_hex.to_ascii_lowercase();
    let Some(name) = db_name
        .strip_suffix(pk.as_str())
        .and_then(|r| r.strip_suffix('-'))
    else {
        return Err(Error::NotOwner(format!(
            "database `{db_name}` does not end with -{pk}"
        )));
    };
    if pk.len() != 64 {
        return Err(Error::NotOwner(
            "public key is not 64 hex characters".into(),
        ));
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::NotOwner(format!(
            "database name `{name}` must be non-empty letters, digits, _ or -"
        )));
    }
    Ok(())
}
