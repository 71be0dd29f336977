//! The wildcards of the policy language: `*` for any run of characters (none included) and `?`
//! for exactly one, in actions, resources and `StringLike` values.

/// Whether `text` matches `pattern`; actions compare without regard to case, the rest exactly.
pub(crate) fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| {
        if ignore_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    // The classic single-backtrack match: a `*` first matches nothing, and on a mismatch the
    // last `*` seen takes one character more.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && same(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;
    use proptest::prelude::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "", false));
        assert!(matches("b/public/*", "b/public/a/b.txt", false));
        assert!(!matches("b/public/*", "b/private/a", false));
        assert!(matches("b/?.txt", "b/a.txt", false));
        assert!(!matches("b/?.txt", "b/ab.txt", false));
        assert!(matches("s3:Get*", "s3:getobject", true));
        assert!(!matches("s3:Get*", "s3:getobject", false));
        assert!(matches("*a*b*", "xxaxxbxx", false));
        assert!(!matches("*a*b", "xxaxxbxx", false));
        assert!(matches("é*", "été", false));
    }

    proptest! {
        #[test]
        fn a_text_matches_itself_and_a_star_matches_anything(text in "[^*?]{0,20}") {
            prop_assert!(matches(&text, &text, false));
            prop_assert!(matches("*", &text, false));
            let prefix: String = text.chars().take(3).collect();
            let starred = format!("{prefix}*");
            prop_assert!(matches(&starred, &text, false));
        }
    }
}
