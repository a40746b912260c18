//! Tekton results (one file per result) and the JSON outputs file Jenkins and Cloud Build read:
//! whatever the values, exactly our results and keys.
#![no_main]

mod common;

use binauthz_attest::ci::{self, Outputs};
use binauthz_attest::report::Output;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use std::ffi::OsString;

fuzz_target!(|data: &[u8]| {
    let Some([digest, image_ref, attestation, value]) = common::fields::<4>(data) else {
        return;
    };
    let dir = common::scratch("tekton");
    let env = common::env_of(vec![(
        "BINAUTHZ_TEKTON_RESULTS_DIR",
        dir.display().to_string(),
    )]);
    let tekton = ci::detect(&[OsString::from("--ci"), OsString::from("tekton")], &env);
    let outcomes = [common::outcome(&digest, &image_ref, &attestation, "i")];
    tekton
        .finish(&env, &Output::Signed(outcomes.to_vec()), &mut Vec::new())
        .unwrap();
    tekton
        .finish(
            &env,
            &Output::Named(vec![("attestor".into(), value.clone())]),
            &mut Vec::new(),
        )
        .unwrap();
    let results: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = [
        "IMAGE_URL",
        "IMAGE_DIGEST",
        "ATTESTATION",
        "CREATED",
        "COSIGN_SIGNATURE",
        "ATTESTOR",
    ]
    .map(String::from)
    .into();
    assert_eq!(results, expected);
    assert_eq!(
        std::fs::read_to_string(dir.join("ATTESTATION")).unwrap(),
        attestation
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("ATTESTOR")).unwrap(),
        value
    );

    let json: serde_json::Value = serde_json::from_str(&Outputs::json_file(&outcomes)).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "attestation",
            "cosign-signature",
            "created",
            "digest",
            "image-ref",
            "images"
        ]
    );
    assert_eq!(json["attestation"], attestation.as_str());
});
