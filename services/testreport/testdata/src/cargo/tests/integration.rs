#[test]
fn integration_ok() { assert_eq!(sample::add(0, 0), 0); }

#[test]
fn integration_fails() { panic!("integration broke"); }
