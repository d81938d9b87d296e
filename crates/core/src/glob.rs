//! Tag patterns: `*` matches any run of characters (including none), `?` exactly one;
//! everything else matches itself. That is all: tags are short and these two cover them.

/// Does `pattern` match the whole of `text`?
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Classic two-pointer wildcard match with backtracking to the last star.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Is there any text that both patterns match? Used to find push rules that would race.
pub fn overlap(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut memo = vec![vec![None; b.len() + 1]; a.len() + 1];
    fn go(a: &[char], b: &[char], i: usize, j: usize, memo: &mut Vec<Vec<Option<bool>>>) -> bool {
        if let Some(v) = memo[i][j] {
            return v;
        }
        let v = if i == a.len() && j == b.len() {
            true
        } else if i < a.len() && a[i] == '*' {
            // The star matches nothing, or swallows whatever b produces next.
            go(a, b, i + 1, j, memo) || (j < b.len() && go(a, b, i, j + 1, memo))
        } else if j < b.len() && b[j] == '*' {
            go(a, b, i, j + 1, memo) || (i < a.len() && go(a, b, i + 1, j, memo))
        } else if i < a.len() && j < b.len() {
            (a[i] == '?' || b[j] == '?' || a[i] == b[j]) && go(a, b, i + 1, j + 1, memo)
        } else {
            false
        };
        memo[i][j] = Some(v);
        v
    }
    go(&a, &b, 0, 0, &mut memo)
}

/// Why a tag pattern is not acceptable, if it is not. ECR tags use letters, digits, `_`,
/// `.` and `-` (up to 128 characters); patterns add `*` and `?`.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("a tag pattern must not be empty".into());
    }
    if pattern.chars().count() > 128 {
        return Err("a tag pattern is at most 128 characters".into());
    }
    if let Some(c) = pattern
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*' | '?')))
    {
        return Err(format!(
            "`{pattern}` contains `{c}`; tag patterns use letters, digits, `_`, `.`, `-` and the wildcards `*` and `?`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matching() {
        assert!(matches("v*", "v1.2.3"));
        assert!(matches("v*", "v"));
        assert!(!matches("v*", "release-1"));
        assert!(matches("release-?", "release-1"));
        assert!(!matches("release-?", "release-10"));
        assert!(matches("*-rc*", "1.0-rc2"));
        assert!(matches("latest", "latest"));
        assert!(!matches("latest", "latest2"));
    }

    #[test]
    fn overlaps() {
        assert!(overlap("v*", "*"));
        assert!(overlap("v*", "*-rc"));
        assert!(overlap("v1.?", "v?.2"));
        assert!(!overlap("v*", "release-*"));
        assert!(!overlap("v?", "v??"));
        assert!(!overlap("main", "prod"));
    }

    fn pattern() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ab*?]{0,5}").unwrap()
    }

    proptest! {
        // Overlap must agree with brute force over every short text.
        #[test]
        fn overlap_agrees_with_brute_force(a in pattern(), b in pattern()) {
            let mut witness = false;
            'outer: for len in 0..=10 {
                for bits in 0..(1u32 << len) {
                    let text: String = (0..len).map(|k| if bits >> k & 1 == 1 { 'a' } else { 'b' }).collect();
                    if matches(&a, &text) && matches(&b, &text) { witness = true; break 'outer; }
                }
            }
            prop_assert_eq!(overlap(&a, &b), witness);
        }
    }
}
