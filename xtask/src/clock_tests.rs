use super::*;

#[test]
fn utc_dates() {
    assert_eq!(utc_date(0), "1970-01-01");
    assert_eq!(utc_date(951_782_400), "2000-02-29");
    assert_eq!(utc_date(1_625_119_201), "2021-07-01");
    assert_eq!(utc_date(-1), "1969-12-31");
}

#[test]
fn the_created_label_is_the_source_date() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_767_323_045), "2026-01-02T03:04:05Z");
}
