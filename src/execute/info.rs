//! Combining the info strings of several shards' OK packets ("Records: 3  Duplicates: 0
//! Warnings: 0", "Rows matched: 2  Changed: 2  Warnings: 0") into the one the client gets.

/// Adds the numbers of two info strings of the same shape; when the shapes differ the
/// first wins, since a made-up sum would be worse than a partial one.
pub fn sum_info(acc: &str, next: &str) -> String {
    if acc.is_empty() {
        return next.to_string();
    }
    let (a_words, a_nums) = split_numbers(acc);
    let (b_words, b_nums) = split_numbers(next);
    if a_words != b_words || a_nums.len() != b_nums.len() {
        return acc.to_string();
    }
    let mut out = String::with_capacity(acc.len() + 4);
    for (i, word) in a_words.iter().enumerate() {
        out.push_str(word);
        if let (Some(x), Some(y)) = (a_nums.get(i), b_nums.get(i)) {
            out.push_str(&(x + y).to_string());
        }
    }
    out
}

fn split_numbers(s: &str) -> (Vec<&str>, Vec<u64>) {
    let mut words = Vec::new();
    let mut nums = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut start = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            words.push(&s[start..i]);
            let num_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            nums.push(s[num_start..i].parse().unwrap_or(0));
            start = i;
        } else {
            i += 1;
        }
    }
    words.push(&s[start..]);
    (words, nums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_records_of_split_inserts() {
        assert_eq!(
            sum_info(
                "Records: 3  Duplicates: 0  Warnings: 1",
                "Records: 2  Duplicates: 1  Warnings: 0"
            ),
            "Records: 5  Duplicates: 1  Warnings: 1"
        );
    }

    #[test]
    fn different_shapes_keep_the_first() {
        assert_eq!(sum_info("Records: 3", "Rows matched: 1"), "Records: 3");
        assert_eq!(sum_info("", "Rows matched: 1"), "Rows matched: 1");
    }
}
