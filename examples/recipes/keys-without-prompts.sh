# Keys you hold, made without a prompt (CI, scripts), each for its own attestor. A PKIX key with
# openssl; it also signs cosign signatures (`sign --cosign`), which `cosign verify --key key.pub`
# checks.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem
openssl pkey -in key.pem -pubout -out key.pub
chmod 600 key.pem
binauthz-attest setup --attestor "projects/$PROJECT/attestors/team-pkix" --pkix-public-key key.pub --output text
binauthz-attest sign "$AR/hello:v1" --attestor "projects/$PROJECT/attestors/team-pkix" \
    --pkix-private-key key.pem --output text
# An OpenPGP key with gpg in batch mode: the passphrase from a file, no agent prompt.
export GNUPGHOME=$(mktemp -d)
printf '%s\n' 'a passphrase from your secret store' > passphrase.txt
gpg --batch --pinentry-mode loopback --passphrase-file passphrase.txt \
    --quick-generate-key "CI signer <ci@example.com>" ed25519 sign never
FPR=$(gpg --batch --list-keys --with-colons ci@example.com | awk -F: '/^fpr/ {print $10; exit}')
gpg --batch --armor --export "$FPR" > key.asc
gpg --batch --pinentry-mode loopback --passphrase-file passphrase.txt \
    --armor --export-secret-keys "$FPR" > secret.asc
binauthz-attest setup --attestor "projects/$PROJECT/attestors/team-pgp" --pgp-public-key key.asc --output text
binauthz-attest sign "$AR/hello:v1" --attestor "projects/$PROJECT/attestors/team-pgp" \
    --pgp-private-key secret.asc --pgp-passphrase-file passphrase.txt --output text
