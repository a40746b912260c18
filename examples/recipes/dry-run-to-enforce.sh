# From dry run to enforce, for a new attestor of the CI. Dry run first: the policy requires the
# attestor, denials are only logged, and `policy check` says what enforcement would block.
ATTESTOR=projects/$PROJECT/attestors/built-by-ci
KMS_KEY=projects/$PROJECT/locations/global/keyRings/binauthz/cryptoKeys/attestor
binauthz-attest setup --attestor "$ATTESTOR" --kms-key "$KMS_KEY" --policy dryrun --output text
cat > service.yaml <<YAML
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: web
  annotations:
    run.googleapis.com/binary-authorization: default
spec:
  template:
    spec:
      containers:
      - image: $AR/hello:v1
YAML
# Not attested by built-by-ci yet: would be denied (dry run), a warning, exit 0.
binauthz-attest policy check --project "$PROJECT" --manifest service.yaml --output text
# Enforce: the same check now fails (exit 5), as the deploy would.
binauthz-attest setup --attestor "$ATTESTOR" --policy enforce --output text
binauthz-attest policy check --project "$PROJECT" --manifest service.yaml --output text \
    || echo "denied, exit $?"
# An emergency: breakglass on the Service itself (not on its revision template), with the
# reason. The deploy is admitted, and Cloud Audit Logs keep it with the justification.
sed -i 's|run.googleapis.com/binary-authorization: default|&\n    run.googleapis.com/binary-authorization-breakglass: "INC-1234 hotfix, approved by on-call"|' service.yaml
binauthz-attest policy check --project "$PROJECT" --manifest service.yaml --output text
# After the emergency: attest the image, drop the annotation, and the check passes on its own.
binauthz-attest sign "$AR/hello:v1" --attestor "$ATTESTOR" \
    --kms-key-version "$KMS_KEY/cryptoKeyVersions/1" --output text
sed -i '/binary-authorization-breakglass/d' service.yaml
binauthz-attest policy check --project "$PROJECT" --manifest service.yaml --output text
