# Built in Nexus, deployed from Artifact Registry to Cloud Run. An attestation binds repository
# and digest, and Cloud Run checks the Artifact Registry one: sign that reference, with --source
# naming the Nexus image so a copy whose digest changed is refused, never signed.
NEXUS_IMAGE=$NEXUS/web:1.4.2 AR_IMAGE=$AR/web:1.4.2
# The copy must keep the digest (same manifest bytes): this prints both and exits 5 if not.
binauthz-attest digest --compare "$NEXUS_IMAGE" "$AR_IMAGE"
binauthz-attest sign "$AR_IMAGE" --source "$NEXUS_IMAGE" \
    --attestor "$ATTESTOR" --kms-key-version "$KEY_VERSION" --output text
# What Cloud Run will decide (the project's policy; Cloud Run resolves the tag as we do):
binauthz-attest policy check --project "$PROJECT" --platform cloudrun "$AR_IMAGE" --output text
# Then deploy the Artifact Registry image with Binary Authorization on:
#   gcloud run deploy web --image "$AR_IMAGE" --binary-authorization=default
