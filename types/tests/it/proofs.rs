//! Namespace proofs: every slice verifies complete, any tampering is refused, and absence is
//! provable exactly for the namespaces a batch does not hold.

use ordo_types::namespace_tree::{LeafAt, ProofKind};
use ordo_types::tx::{BatchTx, Transaction};
use ordo_types::{Hash, Namespace, NamespaceProof, NamespaceTree, ProofError};
use proptest::prelude::*;

/// A well-ordered body of ordinary transactions over namespaces 0..12.
fn body_strategy() -> impl Strategy<Value = Vec<BatchTx>> {
    prop::collection::vec((0u64..12, prop::collection::vec(any::<u8>(), 0..12)), 0..40).prop_map(
        |mut items| {
            items.sort_by_key(|(ns, _)| *ns);
            items
                .into_iter()
                .map(|(ns, p)| BatchTx::Ordinary(Transaction::new(Namespace(ns), p)))
                .collect()
        },
    )
}

fn slice(body: &[BatchTx], ns: Namespace) -> Vec<BatchTx> {
    body.iter()
        .filter(|t| t.namespace() == ns)
        .cloned()
        .collect()
}

fn present_namespaces(tree: &NamespaceTree) -> Vec<Namespace> {
    tree.leaves().iter().map(|l| l.namespace).collect()
}

fn flip(h: &mut Hash) {
    h.0[0] ^= 1;
}

/// Every way of editing a proof that keeps its shape; none may verify.
fn tampered_proofs(p: &NamespaceProof) -> Vec<NamespaceProof> {
    let mut out = Vec::new();
    let mut edit = |f: &mut dyn FnMut(&mut LeafAt)| {
        let mut q = p.clone();
        match &mut q.kind {
            ProofKind::Present(at) => f(at),
            ProofKind::Absent { left, right } => {
                if let Some(at) = left.as_mut().or(right.as_mut()) {
                    f(at)
                }
            }
        }
        if q != *p {
            out.push(q);
        }
    };
    edit(&mut |at| flip(&mut at.leaf.tx_root));
    edit(&mut |at| at.leaf.count = at.leaf.count.wrapping_add(1));
    edit(&mut |at| at.index = at.index.wrapping_add(1));
    edit(&mut |at| {
        if let Some(h) = at.path.first_mut() {
            flip(h)
        }
    });
    edit(&mut |at| {
        at.path.pop();
    });
    edit(&mut |at| at.path.push(Hash([7; 32])));
    let mut q = p.clone();
    q.leaf_count = q.leaf_count.wrapping_add(1);
    out.push(q);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_namespace_proves_its_complete_slice(body in body_strategy()) {
        let tree = NamespaceTree::build(&body);
        let root = tree.root();
        for ns in (0..14).map(Namespace) {
            let s = slice(&body, ns);
            let proof = tree.proof(ns);
            prop_assert_eq!(proof.verify_slice(&root, &s), Ok(()));
            prop_assert_eq!(proof.verify(&root).unwrap().is_some(), !s.is_empty());
        }
    }

    #[test]
    fn a_tampered_slice_is_refused(body in body_strategy(), pick in any::<prop::sample::Index>()) {
        let tree = NamespaceTree::build(&body);
        let root = tree.root();
        let present = present_namespaces(&tree);
        prop_assume!(!present.is_empty());
        let ns = *pick.get(&present);
        let s = slice(&body, ns);
        let proof = tree.proof(ns);

        // A transaction changed.
        let mut changed = s.clone();
        let i = pick.index(changed.len());
        let mut payload = changed[i].payload().to_vec();
        payload.push(0xff);
        changed[i] = BatchTx::Ordinary(Transaction::new(ns, payload));
        prop_assert_eq!(proof.verify_slice(&root, &changed), Err(ProofError::TxRootMismatch));

        // A transaction dropped, or one added.
        let mut dropped = s.clone();
        dropped.remove(i);
        assert!(matches!(proof.verify_slice(&root, &dropped), Err(ProofError::CountMismatch { .. })));
        let mut added = s.clone();
        added.push(BatchTx::Ordinary(Transaction::new(ns, b"extra".to_vec())));
        assert!(matches!(proof.verify_slice(&root, &added), Err(ProofError::CountMismatch { .. })));

        // Two different transactions swapped.
        if let Some(j) = (0..s.len()).find(|&j| s[j] != s[i]) {
            let mut swapped = s.clone();
            swapped.swap(i, j);
            prop_assert_eq!(proof.verify_slice(&root, &swapped), Err(ProofError::TxRootMismatch));
        }

        // Another namespace's transaction slipped in.
        let mut foreign = s.clone();
        foreign.push(BatchTx::Ordinary(Transaction::new(Namespace(ns.0 + 100), b"x".to_vec())));
        assert!(matches!(proof.verify_slice(&root, &foreign), Err(ProofError::ForeignTransaction { .. })));
    }

    #[test]
    fn a_tampered_proof_or_root_is_refused(body in body_strategy(), ns in 0u64..14) {
        let tree = NamespaceTree::build(&body);
        let root = tree.root();
        let proof = tree.proof(Namespace(ns));
        let s = slice(&body, Namespace(ns));
        for bad in tampered_proofs(&proof) {
            prop_assert!(bad.verify_slice(&root, &s).is_err(), "tampered proof verified: {:?}", bad);
        }
        let mut other_root = root;
        flip(&mut other_root);
        prop_assert!(proof.verify_slice(&other_root, &s).is_err());
    }

    #[test]
    fn absence_holds_exactly_for_absent_namespaces(body in body_strategy()) {
        let tree = NamespaceTree::build(&body);
        let root = tree.root();
        let leaves = tree.leaves().len();
        let present = present_namespaces(&tree);
        // Every absence proof a prover could assemble from this tree's real leaves: adjacent
        // pairs, either edge alone, and the empty claim.
        let at = |i: usize| tree.proof(tree.leaves()[i].namespace).kind;
        let leaf_at = |i: usize| match at(i) { ProofKind::Present(a) => a, _ => unreachable!() };
        let mut candidates: Vec<ProofKind> = vec![ProofKind::Absent { left: None, right: None }];
        for i in 0..leaves {
            candidates.push(ProofKind::Absent { left: None, right: Some(leaf_at(i)) });
            candidates.push(ProofKind::Absent { left: Some(leaf_at(i)), right: None });
            for j in 0..leaves {
                candidates.push(ProofKind::Absent { left: Some(leaf_at(i)), right: Some(leaf_at(j)) });
            }
        }
        for ns in (0..14).map(Namespace) {
            let accepted = candidates.iter().any(|kind| {
                let p = NamespaceProof { namespace: ns, leaf_count: leaves as u32, kind: kind.clone() };
                p.verify(&root) == Ok(None)
            });
            prop_assert_eq!(accepted, !present.contains(&ns), "namespace {}", ns);
        }
    }

    #[test]
    fn a_present_leaf_proves_only_its_own_namespace(body in body_strategy(), other in 0u64..14) {
        let tree = NamespaceTree::build(&body);
        let root = tree.root();
        for leaf in tree.leaves() {
            let mut p = tree.proof(leaf.namespace);
            if other != leaf.namespace.0 {
                p.namespace = Namespace(other);
                assert!(matches!(p.verify(&root), Err(ProofError::WrongNamespace { .. })));
            }
        }
    }

    #[test]
    fn every_transaction_has_a_position_proof(body in body_strategy()) {
        let tree = NamespaceTree::build(&body);
        let root = tree.root();
        for ns in present_namespaces(&tree) {
            let s = slice(&body, ns);
            for (i, tx) in s.iter().enumerate() {
                let p = tree.tx_proof(ns, i as u32).unwrap();
                prop_assert_eq!(p.verify(&root, tx), Ok(()));
                // Moved to the next position (unless an identical transaction sits there).
                if s.get(i + 1) != Some(tx) {
                    let mut moved = p.clone();
                    moved.index = moved.index.wrapping_add(1);
                    prop_assert!(moved.verify(&root, tx).is_err());
                }
                let other = BatchTx::Ordinary(Transaction::new(ns, b"not in the batch".to_vec()));
                if !s.contains(&other) {
                    prop_assert_eq!(p.verify(&root, &other), Err(ProofError::TxNotIncluded));
                }
            }
        }
    }
}

#[test]
fn an_empty_batch_proves_every_namespace_absent() {
    let tree = NamespaceTree::build(&[]);
    let p = tree.proof(Namespace(3));
    assert_eq!(p.verify(&tree.root()), Ok(None));
    assert_eq!(p.verify_slice(&tree.root(), &[]), Ok(()));
    let one = NamespaceTree::build(&[BatchTx::Ordinary(Transaction::new(
        Namespace(1),
        b"x".to_vec(),
    ))]);
    assert_eq!(p.verify(&one.root()), Err(ProofError::MissingNeighbour));
}
