//! A namespace's history rebuilt from a real anvil's blobs alone, with no ordo node: every
//! height verified (certificate, namespace proof, parent chain) and equal to what was
//! certified; frames that were tampered with, or are of another chain, are passed over and
//! reported, and a height with no valid copy is named.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use ordo_client::l1::{Finality, L1Da, L1HistoryError, namespace_from_l1};
use ordo_da_adapter::da::{BlobConfig, BlobProofs, DaBackend, EthereumBlobs, L1Address, Locator};
use ordo_da_adapter::l1::dev::{Anvil, DEV_KEY};
use ordo_types::da::{Certified, Frame, pack};
use ordo_types::{ChainId, Height, Limits, Namespace, fixtures};

const CHAIN: ChainId = ChainId(77);
const INBOX: &str = "0xdadadadadadadadadadadadadadadadadadadada";

fn poster(anvil: &Anvil) -> EthereumBlobs {
    let cfg = BlobConfig {
        rpc: anvil.url.clone(),
        batch_inbox: INBOX.parse::<L1Address>().unwrap(),
        finality: Finality::Depth(0),
        // Two blobs per transaction (about 250 kB a frame), so the history needs several
        // frames and one batch is split across two.
        max_blobs_per_tx: 2,
        max_fee_per_gas: 1_000_000_000_000,
        max_fee_per_blob_gas: 1_000_000_000_000,
        proofs: BlobProofs::Eip4844,
        limits: Limits::default(),
        verify_blobs: true,
        beacon: None,
    };
    EthereumBlobs::new(cfg, Some(DEV_KEY)).unwrap()
}

/// Posts `frame` and returns its transaction hash.
async fn post(p: &EthereumBlobs, frame: &Frame) -> ordo_client::l1::L1Hash {
    match p.submit(frame).await.unwrap().locator {
        Locator::EthereumBlobs { tx_hash, .. } => tx_hash.parse().unwrap(),
        other => panic!("{other:?}"),
    }
}

/// `frame` with one byte of its data changed (a transaction payload byte of its last entry's
/// body, well past the first header): the checksum is recomputed, so only the content is wrong.
fn tampered(frame: &Frame) -> Frame {
    let mut data = frame.data.to_vec();
    let at = data.len() - 400;
    data[at] ^= 0x01;
    Frame {
        data: data.into(),
        ..frame.clone()
    }
}

/// What [`post_history`] put on the L1.
struct OnL1 {
    anvil: Anvil,
    chain: Vec<Certified>,
    /// The tampered copy of the first frame, its copy for another chain, and the tampered
    /// (only) copy of heights 31..=40.
    bad: ordo_client::l1::L1Hash,
    foreign: ordo_client::l1::L1Hash,
    bad_late: ordo_client::l1::L1Hash,
    /// Copies of heights 1..=3 with wrong certificates, posted before the honest ones.
    forged: Vec<ordo_client::l1::L1Hash>,
}

/// 40 certified heights (some empty in namespace 2, one split across two frames):
/// heights 1..=30 posted honestly after a tampered copy and a copy for another chain of their
/// first frame; heights 31..=40 only as a tampered copy.
async fn post_history() -> OnL1 {
    let anvil = Anvil::spawn_fork(0, None, "cancun").await.unwrap();
    let p = poster(&anvil);
    let chain: Vec<Certified> = fixtures::certified_chain(CHAIN, 40, |h| match h {
        20 => 900,
        25 => 1_500,
        h if h % 5 == 0 => 0,
        h => (h as usize * 13) % 40,
    });
    let cap = p.frame_capacity();
    let honest = pack(CHAIN, &chain[..30], cap);
    assert!(honest.len() >= 3, "{} frames", honest.len());
    assert!(
        honest.iter().any(|f| f.parts == 2),
        "a batch split in two parts"
    );
    let bad = post(&p, &tampered(&honest[0])).await;
    let other_chain = Frame {
        chain_id: ChainId(78),
        ..honest[0].clone()
    };
    let foreign = post(&p, &other_chain).await;
    // More copies of heights 1..=3 than a reader keeps per height, ahead of the honest ones,
    // each with the certificate of another height: decodable, but none verifies.
    let mut forged = Vec::new();
    for j in 0..6 {
        let copies: Vec<Certified> = chain[..3]
            .iter()
            .map(|c| Certified {
                certificate: chain[4 + j].certificate.clone(),
                ..c.clone()
            })
            .collect();
        for f in pack(CHAIN, &copies, cap) {
            forged.push(post(&p, &f).await);
        }
    }
    for f in &honest {
        post(&p, f).await;
    }
    let late = pack(CHAIN, &chain[30..], cap);
    let bad_late = post(&p, &tampered(&late[0])).await;
    OnL1 {
        anvil,
        chain,
        bad,
        foreign,
        forged,
        bad_late,
    }
}

/// The chain's frames on `anvil`, final at once; a static chain (no stake table).
fn l1_da(anvil: &Anvil) -> L1Da {
    L1Da {
        rpc: anvil.url.clone(),
        batch_inbox: INBOX.into(),
        start_block: 0,
        finality: Finality::Depth(0),
        beacon: None,
        stake: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_is_rebuilt_from_the_l1_alone_and_tampered_frames_are_passed_over() {
    let OnL1 {
        anvil,
        chain,
        bad,
        foreign,
        bad_late,
        forged,
    } = post_history().await;
    let da = l1_da(&anvil);
    let set = fixtures::validator_set();
    let ns = Namespace(2);
    let got = namespace_from_l1(
        &da,
        CHAIN,
        &set,
        Limits::default(),
        ns,
        Height(1),
        Height(30),
    )
    .await
    .unwrap();
    assert_eq!(got.slices.len(), 30);
    for (s, c) in got.slices.iter().zip(&chain) {
        assert_eq!(s.height, c.batch.header.height);
        assert_eq!(s.hash, c.batch.hash());
        assert_eq!(s.txs, c.batch.slice(ns), "height {}", s.height.0);
        assert_eq!(s.certificate, c.certificate);
    }
    assert!(got.slices.iter().any(|s| s.txs.is_empty()));
    assert!(got.slices.iter().any(|s| !s.txs.is_empty()));
    let rejected: Vec<_> = got.rejected.iter().map(|r| r.tx_hash).collect();
    assert!(rejected.contains(&bad), "{:?}", got.rejected);
    assert!(rejected.contains(&foreign), "{:?}", got.rejected);
    // The forged copies, more than a reader keeps of a height, did not crowd out the honest one.
    for f in &forged {
        assert!(rejected.contains(f), "{f} not rejected: {:?}", got.rejected);
    }

    // From a later height, the first parent is taken on its certificate.
    let mid = namespace_from_l1(
        &da,
        CHAIN,
        &set,
        Limits::default(),
        ns,
        Height(12),
        Height(30),
    )
    .await
    .unwrap();
    assert_eq!(mid.slices.first().unwrap().height, Height(12));
    assert_eq!(mid.slices.len(), 19);

    // Past 30 only the tampered copy exists: height 31 is named, and the copy was rejected.
    match namespace_from_l1(
        &da,
        CHAIN,
        &set,
        Limits::default(),
        ns,
        Height(25),
        Height(35),
    )
    .await
    {
        Err(L1HistoryError::Missing {
            height, rejected, ..
        }) => {
            assert_eq!(height, Height(31));
            assert!(
                rejected.iter().any(|r| r.tx_hash == bad_late),
                "{rejected:?}"
            );
        }
        other => panic!("{other:?}"),
    }

    // Pinned to another validator set (three of the four), nothing verifies.
    let wrong_set =
        ordo_types::bls::ValidatorSet::new(set.validators().iter().take(3).cloned().collect(), 16)
            .unwrap();
    let r = namespace_from_l1(
        &da,
        CHAIN,
        &wrong_set,
        Limits::default(),
        ns,
        Height(1),
        Height(3),
    )
    .await;
    assert!(
        matches!(
            r,
            Err(L1HistoryError::Missing {
                height: Height(1),
                ..
            } | L1HistoryError::Verify {
                height: Height(1),
                ..
            })
        ),
        "{r:?}"
    );
}
