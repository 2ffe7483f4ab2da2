//! KRPC tests: the BEP 5 examples, refusals that keep the transaction id, caps, and
//! properties (round trip, arbitrary bytes never panic).

use proptest::prelude::*;

use super::*;

fn id(s: &[u8; 20]) -> NodeId {
    NodeId(*s)
}

#[test]
fn parses_the_bep5_examples() {
    let ping = Krpc::parse(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe").unwrap();
    assert_eq!(ping.tid, b"aa");
    assert_eq!(
        ping.body,
        Body::Query {
            id: id(b"abcdefghij0123456789"),
            query: Query::Ping
        }
    );
    let pong = Krpc::parse(b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re").unwrap();
    let Body::Response(r) = pong.body else {
        panic!("not a response");
    };
    assert_eq!(r.id, Some(id(b"mnopqrstuvwxyz123456")));
    let err = Krpc::parse(b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee").unwrap();
    assert_eq!(
        err.body,
        Body::Error {
            code: 201,
            message: "A Generic Error Ocurred".into()
        }
    );
    let announce = Krpc::parse(
        b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
    )
    .unwrap();
    assert_eq!(
        announce.body,
        Body::Query {
            id: id(b"abcdefghij0123456789"),
            query: Query::AnnouncePeer {
                info_hash: id(b"mnopqrstuvwxyz123456"),
                port: 6881,
                implied_port: true,
                token: b"aoeusnth".to_vec()
            }
        }
    );
}

#[test]
fn a_response_carries_nodes_values_token_and_our_address() {
    let r = Response {
        id: Some(NodeId([1; 20])),
        nodes: vec![
            (NodeId([2; 20]), "10.0.0.2:6881".parse().unwrap()),
            (NodeId([3; 20]), "[2001:db8::3]:6882".parse().unwrap()),
        ],
        values: vec!["10.0.0.9:51413".parse().unwrap()],
        token: Some(b"tok".to_vec()),
    };
    let msg = Krpc {
        tid: b"xy".to_vec(),
        body: Body::Response(r),
        ip: Some("203.0.113.5:6881".parse().unwrap()),
    };
    assert_eq!(Krpc::parse(&msg.encode()), Ok(msg));
}

#[test]
fn refusals_keep_the_transaction_id_to_answer_with() {
    let unknown = Krpc::parse(b"d1:ad2:id20:abcdefghij0123456789e1:q4:nope1:t2:aa1:y1:qe");
    let err = unknown.unwrap_err();
    assert_eq!(err.tid.as_deref(), Some(&b"aa"[..]));
    assert_eq!(err.code(), ERROR_METHOD_UNKNOWN);
    let short_id = Krpc::parse(b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe").unwrap_err();
    assert_eq!(short_id.tid.as_deref(), Some(&b"aa"[..]));
    assert_eq!(short_id.code(), ERROR_PROTOCOL);
    let torn = Krpc::parse(b"d1:rd2:id20:mnopqrstuvwxyz1234565:nodes5:abcdee1:t2:aa1:y1:re");
    assert!(matches!(
        torn.unwrap_err().error,
        KrpcError::BadLength { key: "nodes", .. }
    ));
    assert_eq!(Krpc::parse(b"le").unwrap_err().tid, None);
    assert_eq!(Krpc::parse(b"d1:y1:qe").unwrap_err().tid, None);
    let long_tid = format!("d1:t40:{}1:y1:qe", "x".repeat(40));
    assert!(matches!(
        Krpc::parse(long_tid.as_bytes()).unwrap_err().error,
        KrpcError::TooLong { key: "t", .. }
    ));
}

#[test]
fn long_lists_are_capped() {
    let r = Response {
        id: Some(NodeId([1; 20])),
        nodes: (0..40u8)
            .map(|i| (NodeId([i; 20]), SocketAddr::from(([10, 0, 0, i], 1))))
            .collect(),
        values: (0..250u16)
            .map(|i| SocketAddr::from(([10, 0, 1, 1], i)))
            .collect(),
        token: None,
    };
    let msg = Krpc {
        tid: b"a".to_vec(),
        body: Body::Response(r),
        ip: None,
    };
    let Body::Response(parsed) = Krpc::parse(&msg.encode()).unwrap().body else {
        panic!("not a response");
    };
    assert_eq!(parsed.nodes.len(), MAX_NODES);
    assert_eq!(parsed.values.len(), MAX_VALUES);
}

fn node_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId)
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    prop_oneof![
        Just(Query::Ping),
        node_id().prop_map(|target| Query::FindNode { target }),
        node_id().prop_map(|info_hash| Query::GetPeers { info_hash }),
        (
            node_id(),
            1u16..,
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(
                |(info_hash, port, implied_port, token)| Query::AnnouncePeer {
                    info_hash,
                    port,
                    implied_port,
                    token
                }
            ),
    ]
}

proptest! {
    #[test]
    fn queries_round_trip(tid in proptest::collection::vec(any::<u8>(), 0..8), id in node_id(), q in query()) {
        let msg = Krpc { tid, body: Body::Query { id, query: q }, ip: None };
        prop_assert_eq!(Krpc::parse(&msg.encode()), Ok(msg));
    }

    #[test]
    fn responses_round_trip(
        id in node_id(),
        v4 in proptest::collection::vec((node_id(), any::<[u8; 4]>(), any::<u16>()), 0..8),
        values in proptest::collection::vec(addr(), 0..20),
        token in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
    ) {
        let nodes = v4.into_iter().map(|(n, ip, p)| (n, SocketAddr::from((ip, p)))).collect();
        let r = Response { id: Some(id), nodes, values, token };
        let msg = Krpc { tid: b"t1".to_vec(), body: Body::Response(r), ip: None };
        prop_assert_eq!(Krpc::parse(&msg.encode()), Ok(msg));
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Krpc::parse(&raw);
    }
}
