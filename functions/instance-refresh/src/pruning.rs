//! Which old launch template versions to delete.

/// Keeps the `keep` newest versions and every protected one (the default version, the
/// group's current version, the new version); returns the rest, oldest first.
pub fn versions_to_prune(existing: &[i64], keep: usize, protected: &[i64]) -> Vec<i64> {
    let mut newest_first = existing.to_vec();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    newest_first.dedup();
    let mut prune: Vec<i64> =
        newest_first.into_iter().skip(keep).filter(|v| !protected.contains(v)).collect();
    prune.sort_unstable();
    prune
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_are_kept_and_the_rest_pruned_oldest_first() {
        assert_eq!(versions_to_prune(&[1, 2, 3, 4, 5, 6], 3, &[6]), vec![1, 2, 3]);
    }

    #[test]
    fn protected_versions_survive_however_old() {
        // Default version 1, group's current version 2, new version 9.
        assert_eq!(versions_to_prune(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 2, &[1, 2, 9]), vec![3, 4, 5, 6, 7]);
    }

    #[test]
    fn nothing_is_pruned_below_the_retention_count() {
        assert!(versions_to_prune(&[3, 1, 2], 5, &[]).is_empty());
    }
}
