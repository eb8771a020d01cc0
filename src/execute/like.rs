//! SQL LIKE matching for the lists the proxy answers itself (SHOW DATABASES/TABLES LIKE).
//! Case-insensitive, as those SHOW statements are on case-insensitive file systems' names.

pub fn like_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    matches(&p, &t)
}

fn matches(p: &[char], t: &[char]) -> bool {
    // Iterative matcher with backtracking to the last '%': linear in practice, no recursion
    // depth to blow up on hostile patterns.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '%' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '_' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                // An escaped character that does not match: only a '%' can help.
                '\\' if pi + 1 < p.len() => {}
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::like_matches;

    #[test]
    fn percent_underscore_escape_and_case() {
        assert!(like_matches("pat%", "patients"));
        assert!(like_matches("PAT%", "patients"));
        assert!(like_matches("%data", "clinical_data"));
        assert!(like_matches("clinical\\_data", "clinical_data"));
        assert!(!like_matches("clinical\\_data", "clinicalXdata"));
        assert!(like_matches("h_spitals", "hospitals"));
        assert!(!like_matches("pat", "patients"));
        assert!(like_matches("%", ""));
        assert!(like_matches("%a%b%", "xxaxxbxx"));
    }
}
