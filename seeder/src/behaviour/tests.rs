//! Tests of behaviour parsing, validation and piece plans.

use super::*;
use crate::serve::Spec;
use rand::SeedableRng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn parse(text: &str) -> Behaviour {
    toml::from_str(text).unwrap()
}

fn ones(b: &Bitfield) -> Vec<u32> {
    b.iter_ones().collect()
}

#[test]
fn defaults_are_an_honest_fast_seeder() {
    let b = parse("");
    assert_eq!(b, Behaviour::default());
    assert!(b.fast);
    assert_eq!(b.pieces, PieceSet::All);
    assert_eq!(b.validate(10), Ok(()));
    let plan = b.piece_plan(10, 0, 1, &mut rng(1));
    assert!(plan.claimed.is_full() && plan.lies.is_empty());
}

#[test]
fn a_scenario_table_reads_into_a_spec() {
    let text = r#"
        count = 3
        base_port = 6881
        rate = "512K"
        pieces = 0.5
        allowed_fast = [1, 2]
        choke_flap_ms = 500
        never_unchoke = true
        corrupt_rate = 0.1
        corrupt_pieces = [4]
        drop_after_blocks = 7
        drop_mode = "rst"
        stall_after_blocks = 9
        lie_fraction = 0.25
        lie_pieces = [3]
        lie_mode = "reject"
        wrong_info_hash = true
        garbage_after_handshake = true
        oversized_message = true
        join_at_ms = 1000
        leave_at_ms = 30000
        fast = true
        unrequested_blocks_ms = 250
        rejoin_after_ms = 100
        rejoin_max = 5
        request_flood = 4000
        trickle_ms = 3
        keepalive_ms = 10000
        shift_begin = -7
    "#;
    let spec: Spec = toml::from_str(text).unwrap();
    assert_eq!((spec.count, spec.base_port), (3, 6881));
    let b = spec.behaviour;
    assert_eq!(b.rate, Some(512 * 1024));
    assert_eq!(b.pieces, PieceSet::Fraction(0.5));
    assert_eq!(b.allowed_fast, vec![1, 2]);
    assert_eq!(b.choke_flap(), Some(Duration::from_millis(500)));
    assert!(b.never_unchoke);
    assert_eq!(b.corrupt_rate, 0.1);
    assert_eq!(b.corrupt_pieces, vec![4]);
    assert_eq!((b.drop_after_blocks, b.drop_mode), (Some(7), DropMode::Rst));
    assert_eq!(b.stall_after_blocks, Some(9));
    assert_eq!((b.lie_fraction, b.lie_mode), (0.25, LieMode::Reject));
    assert_eq!(b.lie_pieces, vec![3]);
    assert!(b.wrong_info_hash && b.garbage_after_handshake && b.oversized_message);
    assert_eq!(b.join_at(), Duration::from_secs(1));
    assert_eq!(b.leave_at(), Some(Duration::from_secs(30)));
    assert_eq!(b.unrequested_blocks(), Some(Duration::from_millis(250)));
    assert_eq!(b.rejoin(), Some((Duration::from_millis(100), 5)));
    assert_eq!(b.request_flood, Some(4000));
    assert_eq!(b.trickle(), Some(Duration::from_millis(3)));
    assert_eq!(b.keepalive(), Duration::from_secs(10));
    assert_eq!(b.shift_begin, Some(-7));
    assert!(b.unknown_fields.is_empty());
    assert_eq!(b.validate(10), Ok(()));
}

#[test]
fn count_defaults_to_one_and_base_port_is_required() {
    let spec: Spec = toml::from_str("base_port = 7000").unwrap();
    assert_eq!(spec.count, 1);
    assert_eq!(spec.behaviour, Behaviour::default());
    assert!(toml::from_str::<Spec>("count = 2").is_err());
}

#[test]
fn misspelt_fields_are_caught_by_validate() {
    let spec: Spec = toml::from_str("base_port = 1\ncorupt_rate = 0.5").unwrap();
    assert_eq!(
        spec.behaviour.validate(10).unwrap_err().to_string(),
        "unknown seeder field `corupt_rate`"
    );
}

#[test]
fn pieces_forms() {
    assert_eq!(parse("pieces = 1").pieces, PieceSet::Fraction(1.0));
    assert_eq!(parse("pieces = [0, 5]").pieces, PieceSet::List(vec![0, 5]));
    assert_eq!(parse("pieces = \"stripe\"").pieces, PieceSet::Stripe);
    assert_eq!(parse("pieces = \"all\"").pieces, PieceSet::All);
    let e = toml::from_str::<Behaviour>("pieces = \"half\"").unwrap_err();
    assert!(e.to_string().contains("pieces is \"half\""), "{e}");
}

#[test]
fn rates_take_numbers_and_binary_units() {
    assert_eq!(parse("rate = 1000").rate, Some(1000));
    assert_eq!(parse("rate = \"2MiB\"").rate, Some(2 << 20));
    assert_eq!(parse("rate = \"10 k\"").rate, Some(10 << 10));
    for bad in ["\"fast\"", "\"10X\"", "\"99999999999999G\""] {
        assert!(
            toml::from_str::<Behaviour>(&format!("rate = {bad}")).is_err(),
            "{bad}"
        );
    }
    assert_eq!(rate::parse("1G"), Ok(1 << 30));
}

#[test]
fn validation_names_the_problem() {
    let err = |text: &str| parse(text).validate(10).unwrap_err().to_string();
    assert_eq!(
        err("corrupt_rate = 1.5"),
        "corrupt_rate is 1.5, expected a value from 0 to 1"
    );
    assert_eq!(err("corrupt_every = 0"), "corrupt_every must be positive");
    assert_eq!(
        err("lie_fraction = -0.1"),
        "lie_fraction is -0.1, expected a value from 0 to 1"
    );
    assert_eq!(
        err("pieces = 2.0"),
        "pieces is 2, expected a value from 0 to 1"
    );
    assert_eq!(
        err("pieces = [3, 10]"),
        "pieces names piece 10, but the torrent has 10 pieces"
    );
    assert_eq!(
        err("corrupt_pieces = [11]"),
        "corrupt_pieces names piece 11, but the torrent has 10 pieces"
    );
    assert_eq!(
        err("lie_pieces = [10]"),
        "lie_pieces names piece 10, but the torrent has 10 pieces"
    );
    assert_eq!(
        err("allowed_fast = [99]"),
        "allowed_fast names piece 99, but the torrent has 10 pieces"
    );
    assert_eq!(err("rate = 0"), "rate must be positive");
    assert_eq!(err("choke_flap_ms = 0"), "choke_flap_ms must be positive");
    assert_eq!(
        err("fast = false\nlie_mode = \"reject\""),
        "lie_mode = \"reject\" needs fast = true (it is a BEP 6 feature)"
    );
    assert_eq!(
        err("fast = false\nallowed_fast = [1]"),
        "allowed_fast needs fast = true (it is a BEP 6 feature)"
    );
    assert_eq!(
        err("join_at_ms = 5000\nleave_at_ms = 10"),
        "leave_at_ms 10 is before join_at_ms 5000"
    );
    let nan = Behaviour {
        corrupt_rate: f64::NAN,
        ..Behaviour::default()
    };
    assert!(nan.validate(10).is_err());
}

#[test]
fn fractions_pick_that_many_pieces_by_seed() {
    let b = parse("pieces = 0.3");
    let a = b.piece_plan(100, 0, 1, &mut rng(1));
    assert_eq!(a.claimed.count_ones(), 30);
    assert_eq!(a, b.piece_plan(100, 0, 1, &mut rng(1)));
    assert_ne!(a, b.piece_plan(100, 0, 1, &mut rng(2)));
    assert!(a.lies.is_empty());
    assert_eq!(
        parse("pieces = 0")
            .piece_plan(7, 0, 1, &mut rng(1))
            .claimed
            .count_ones(),
        0
    );
    assert!(parse("pieces = 1")
        .piece_plan(7, 0, 1, &mut rng(1))
        .claimed
        .is_full());
}

#[test]
fn stripes_of_a_group_cover_everything_once() {
    let b = parse("pieces = \"stripe\"");
    let mut seen = vec![0u32; 10];
    for index in 0..3 {
        let plan = b.piece_plan(10, index, 3, &mut rng(u64::from(index)));
        for p in plan.claimed.iter_ones() {
            assert_eq!(p % 3, index);
            seen[p as usize] += 1;
        }
    }
    assert_eq!(seen, vec![1; 10]);
}

#[test]
fn lies_claim_missing_pieces_first_then_withhold() {
    let b = parse("pieces = [0, 1, 2, 3, 4]\nlie_fraction = 0.3");
    let plan = b.piece_plan(10, 0, 1, &mut rng(5));
    // Three lies, all among the five missing pieces, which the bitfield now claims.
    assert_eq!(plan.lies.count_ones(), 3);
    assert!(plan.lies.iter_ones().all(|p| p >= 5));
    assert_eq!(plan.claimed.count_ones(), 8);
    assert!((0..5).all(|p| plan.serves(p)));
    assert!(plan
        .lies
        .iter_ones()
        .all(|p| plan.claimed.get(p) && !plan.serves(p)));

    // A full seeder can only lie by withholding.
    let full = parse("lie_fraction = 0.5").piece_plan(10, 0, 1, &mut rng(5));
    assert!(full.claimed.is_full());
    assert_eq!(full.lies.count_ones(), 5);

    // More lies than missing pieces: all missing ones, then some held ones.
    let more = parse("pieces = [0, 1, 2, 3, 4, 5, 6, 7]\nlie_fraction = 0.5");
    let plan = more.piece_plan(10, 0, 1, &mut rng(5));
    assert!(plan.claimed.is_full());
    assert_eq!(plan.lies.count_ones(), 5);
    assert!(plan.lies.get(8) && plan.lies.get(9));
}

#[test]
fn explicit_lies_are_claimed_and_never_served() {
    let b = parse("pieces = [0]\nlie_pieces = [0, 4]");
    let plan = b.piece_plan(6, 0, 1, &mut rng(1));
    assert_eq!(ones(&plan.claimed), vec![0, 4]);
    assert_eq!(ones(&plan.lies), vec![0, 4]);
    assert!(!plan.serves(0) && !plan.serves(4) && !plan.serves(1));
}

#[test]
fn hostile_peer_fields_default_to_off() {
    let b = Behaviour::default();
    assert_eq!(b.unrequested_blocks(), None);
    assert_eq!(b.rejoin(), None);
    assert_eq!(b.request_flood, None);
    assert_eq!(b.trickle(), None);
    assert_eq!(b.keepalive(), crate::peer::KEEPALIVE);
    assert_eq!(b.shift_begin, None);
    // A rejoin without a budget gets the default one.
    assert_eq!(
        parse("rejoin_after_ms = 0").rejoin(),
        Some((Duration::ZERO, DEFAULT_REJOIN_MAX))
    );
}

#[test]
fn a_squatter_is_have_none_and_frequent_keep_alives() {
    let b = parse("pieces = []\nkeepalive_ms = 5000");
    assert_eq!(b.validate(10), Ok(()));
    assert!(b.piece_plan(10, 0, 1, &mut rng(1)).claimed.is_empty());
    assert_eq!(b.keepalive(), Duration::from_secs(5));
}

#[test]
fn hostile_peer_fields_are_validated() {
    let err = |text: &str| parse(text).validate(10).unwrap_err().to_string();
    for field in [
        "unrequested_blocks_ms",
        "request_flood",
        "trickle_ms",
        "keepalive_ms",
    ] {
        assert_eq!(
            err(&format!("{field} = 0")),
            format!("{field} must be positive")
        );
    }
    assert_eq!(
        err("rejoin_after_ms = 10\nrejoin_max = 0"),
        "rejoin_max must be positive"
    );
    assert_eq!(err("rejoin_max = 2"), "rejoin_max needs rejoin_after_ms");
    assert_eq!(err("shift_begin = 0"), "shift_begin must not be 0");
    assert_eq!(
        err("corrupt_metadata = true"),
        "corrupt_metadata needs serve_metadata"
    );
    assert_eq!(
        err("metadata_size = 10"),
        "metadata_size needs serve_metadata"
    );
    let lying = "serve_metadata = true\ncorrupt_metadata = true\nmetadata_size = 10";
    assert_eq!(parse(lying).validate(10), Ok(()));
    assert_eq!(parse("shift_begin = -1").validate(10), Ok(()));
    assert!(toml::from_str::<Behaviour>("request_flood = -1").is_err());
    assert!(toml::from_str::<Behaviour>("rejoin_after_ms = \"soon\"").is_err());
}

#[test]
fn a_free_rider_claims_nothing() {
    let b = parse("free_ride = true\npieces = []");
    assert_eq!(b.validate(10), Ok(()));
    let plan = b.piece_plan(10, 0, 1, &mut rng(1));
    assert!(plan.claimed.is_empty(), "it has nothing to offer");
    assert_eq!(
        parse("free_ride = true")
            .validate(10)
            .unwrap_err()
            .to_string(),
        "free_ride needs pieces = []"
    );
}
