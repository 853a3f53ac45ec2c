//! Host names and DNS domains (RFC 1123). The functions return the reason a
//! name is refused, to be put after the field's label.

/// Why `label` is not an RFC 1123 host name label, or `None`.
pub fn label_problem(label: &str) -> Option<&'static str> {
    if label.is_empty() {
        return Some("has an empty label (two dots in a row, or a dot at the start)");
    }
    if label.len() > 63 {
        return Some("has a label longer than 63 characters");
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Some("may contain only letters a-z, digits and hyphens");
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Some("must not start or end with a hyphen");
    }
    None
}

/// Why `name` is not a single-label host name, or `None`.
pub fn hostname_problem(name: &str) -> Option<&'static str> {
    if name.contains('.') {
        return Some("must be one label without dots (put the domain in its own field)");
    }
    label_problem(name)
}

/// Why `name` is not a DNS domain (dotted labels, ≤ 253 characters, a
/// final dot allowed), or `None`.
pub fn domain_problem(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > 253 {
        return Some("is longer than 253 characters");
    }
    for label in name.split('.') {
        if let Some(p) = label_problem(label) {
            return Some(p);
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some("must not end in an all-digit label (that looks like an address)");
    }
    None
}
