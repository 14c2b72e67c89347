//! The committed seed corpus (`fuzz/corpus/<target>/`) is exactly what [`ordo_fuzz::seeds`]
//! builds, and every file of the corpus (seeds, and any input a fuzzing run found and a
//! developer committed) goes through its target without a panic. `ORDO_BLESS_SEEDS=1` rewrites
//! the seeds.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

#[test]
fn the_committed_seeds_are_the_built_seeds() {
    let seeds = ordo_fuzz::seeds::seeds();
    let bless = std::env::var_os("ORDO_BLESS_SEEDS").is_some();
    for s in &seeds {
        let path = corpus().join(s.target).join(&s.name);
        if bless {
            std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir");
            std::fs::write(&path, &s.bytes).expect("write");
            continue;
        }
        let stored = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with ORDO_BLESS_SEEDS=1)", path.display()));
        assert_eq!(
            stored,
            s.bytes,
            "{} differs from its built seed",
            path.display()
        );
    }
    let names: BTreeSet<_> = seeds.iter().map(|s| (s.target, s.name.as_str())).collect();
    assert_eq!(names.len(), seeds.len(), "seed names are unique");
    for (target, _) in ordo_fuzz::TARGETS {
        assert!(
            seeds.iter().any(|s| s.target == *target),
            "target {target} has seeds"
        );
    }
}

#[test]
fn every_corpus_file_goes_through_its_target() {
    let mut ran = 0;
    for (target, run) in ordo_fuzz::TARGETS {
        let dir = corpus().join(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read");
            let _ = run(&bytes);
            ran += 1;
        }
    }
    assert!(ran >= ordo_fuzz::seeds::seeds().len(), "ran {ran} files");
}

/// The seeds are valid inputs, not just bytes: each is accepted by its target (a seed that
/// failed to decode would start fuzzing outside the decoder it is for).
#[test]
fn every_seed_is_accepted_by_its_target() {
    for s in ordo_fuzz::seeds::seeds() {
        let (_, run) = ordo_fuzz::TARGETS
            .iter()
            .find(|(t, _)| *t == s.target)
            .expect("a known target");
        assert!(run(&s.bytes), "seed {}/{} is accepted", s.target, s.name);
    }
}

#[test]
fn the_sample_batch_is_certified() {
    let s = ordo_fuzz::seeds::Sample::new();
    s.batch
        .check_body(&ordo_types::Limits::default())
        .expect("the sample batch is valid");
    s.certificate
        .verify(&ordo_fuzz::pinned_set(), ordo_fuzz::CHAIN)
        .expect("its certificate verifies against the pinned set");
    assert_eq!(s.certificate.batch_hash, s.batch.hash());
}
