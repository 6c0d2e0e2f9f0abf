use super::*;

#[test]
fn quantities_in_every_form_the_api_accepts() {
    assert_eq!(parse("500m"), Some(500));
    assert_eq!(parse("1"), Some(1000));
    assert_eq!(parse("0.5"), Some(500));
    assert_eq!(parse(".5"), Some(500));
    assert_eq!(parse("1.5"), Some(1500));
    assert_eq!(parse("1e3"), Some(1_000_000));
    assert_eq!(parse("1E3"), Some(1_000_000));
    assert_eq!(parse("1Gi"), Some(1_073_741_824_000));
    assert_eq!(parse("128974848"), Some(128_974_848_000));
    assert_eq!(parse("129M"), Some(129_000_000_000));
    assert_eq!(parse("123Mi"), Some(128_974_848_000));
    assert_eq!(parse("1k"), Some(1_000_000));
    assert_eq!(parse("1Ki"), Some(1_024_000));
    assert_eq!(parse("+2"), Some(2000));
    // A fraction of a milli-unit is rounded up, as the API server does.
    assert_eq!(parse("1u"), Some(1));
    assert_eq!(parse("100n"), Some(1));
    assert_eq!(parse("0.0001"), Some(1));
    assert_eq!(parse("1000"), Some(1_000_000));
}

#[test]
fn what_is_not_a_quantity() {
    for bad in ["", "m", "-1", "1.2.3", "1Xi", "1 Gi", "abc", "1e", "1e99", "Gi"] {
        assert_eq!(parse(bad), None, "{bad}");
    }
}

#[test]
fn quantities_as_a_person_reads_them() {
    assert_eq!(show("cpu", 300), "300m");
    assert_eq!(show("cpu", 2000), "2");
    assert_eq!(show("memory", parse("1Gi").unwrap()), "1Gi");
    assert_eq!(show("memory", parse("1536Mi").unwrap()), "1.5Gi");
    assert_eq!(show("memory", parse("128974848").unwrap()), "123Mi");
    assert_eq!(show("memory", 512_000), "512");
}
