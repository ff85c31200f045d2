pub fn add(a: i32, b: i32) -> i32 { a + b }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() { assert_eq!(add(1, 1), 2); }

    #[test]
    fn adds_wrong() { assert_eq!(add(2, 2), 5, "sum is off"); }

    #[test]
    #[ignore]
    fn slow() {}

    #[test]
    #[should_panic]
    fn panics_as_expected() { panic!("expected"); }
}
