//! "Did you mean ...?" for misspelt names.

/// The candidate closest to `name`, if it is close enough to be a plausible typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name_lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&name_lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        // Ties go to the alphabetically first name, so suggestions never depend on map order.
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_typos_and_ignores_strangers() {
        let names = ["needs", "timeout", "retry"];
        assert_eq!(super::closest("need", names), Some("needs"));
        assert_eq!(super::closest("timout", names), Some("timeout"));
        assert_eq!(super::closest("banana", names), None);
    }
}
