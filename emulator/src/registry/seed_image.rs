//! Small images generated at start-up from the seed (`images:`), so the emulator's registry
//! holds something to sign without any other tool: one uncompressed layer with one text file.

use super::store::{Store, OCI_MANIFEST};
use super::Digest;
use serde_json::json;

/// A tar archive of one regular file, written by hand: the format is a 512-byte header (with
/// an octal checksum) and the content padded to 512 bytes, then two zero blocks.
fn tar_with_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(format!("{:011o}", content.len()).as_bytes());
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
    tar
}

/// Stores an OCI image whose one file says `content` as `repository:tag`; returns its digest.
pub fn add(
    store: &mut Store,
    repository: &str,
    tag: &str,
    content: &str,
) -> Result<Digest, String> {
    let layer = tar_with_file("hello.txt", content.as_bytes());
    let layer_digest = Digest::of(&layer);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]},
    })
    .to_string()
    .into_bytes();
    let config_digest = Digest::of(&config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.to_string(), "size": layer.len()}],
    })
    .to_string()
    .into_bytes();
    let fail = |e: super::RegError| format!("image {repository}:{tag}: {}", e.message);
    store
        .put_blob(repository, &layer_digest, layer)
        .map_err(fail)?;
    store
        .put_blob(repository, &config_digest, config)
        .map_err(fail)?;
    let (digest, _) = store
        .put_manifest(repository, tag, Some(OCI_MANIFEST), manifest)
        .map_err(fail)?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_tar_has_a_valid_checksum_and_block_layout() {
        let tar = tar_with_file("hello.txt", b"hi\n");
        assert_eq!(tar.len(), 512 * 4);
        let stored: u32 =
            u32::from_str_radix(std::str::from_utf8(&tar[148..154]).unwrap(), 8).unwrap();
        let mut header = tar[..512].to_vec();
        header[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, header.iter().map(|b| u32::from(*b)).sum::<u32>());
        assert_eq!(&tar[512..515], b"hi\n");
    }

    #[test]
    fn a_seeded_image_resolves_by_tag() {
        let mut store = Store::default();
        let digest = add(&mut store, "demo/apps/hello", "v1", "hello").unwrap();
        let (resolved, manifest) = store.resolve("demo/apps/hello", "v1").unwrap();
        assert_eq!(resolved, digest);
        assert_eq!(manifest.media_type, OCI_MANIFEST);
    }
}
