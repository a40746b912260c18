// binauthzAttest: a thin shared-library step. Named arguments become BINAUTHZ_* variables (the
// binary's own fallbacks for its flags), and `binauthz-attest sign --ci jenkins` runs from a
// constant script: no value is ever interpolated into shell text. The binary writes its outputs
// to a JSON file, which this step reads and returns.

// Named argument -> variable the binary reads. Lists (images, registries) are joined with commas.
// Keys the team holds (pkixPrivateKey, pgpPrivateKey, pgpPassphraseFile, cosignPrivateKey,
// cosignPasswordFile) are files, e.g. from withCredentials([file(...)]), instead of kmsKeyVersion;
// a cosign key's password may also come as COSIGN_PASSWORD from withCredentials([string(...)]).
@groovy.transform.Field
static final Map<String, String> ARG_ENV = [
    images          : 'BINAUTHZ_IMAGES',
    imagesFile      : 'BINAUTHZ_IMAGES_FILE',
    attestor        : 'BINAUTHZ_ATTESTOR',
    attestorProject : 'BINAUTHZ_ATTESTOR_PROJECT',
    kmsKeyVersion   : 'BINAUTHZ_KMS_KEY_VERSION',
    project         : 'BINAUTHZ_PROJECT',
    dryRun          : 'BINAUTHZ_DRY_RUN',
    allPlatforms:    'BINAUTHZ_ALL_PLATFORMS',
    platform:        'BINAUTHZ_PLATFORM',
    expectDigest:    'BINAUTHZ_EXPECT_DIGEST',
    source:          'BINAUTHZ_SOURCE',
    failFast:        'BINAUTHZ_FAIL_FAST',
    timeout         : 'BINAUTHZ_TIMEOUT',
    concurrency     : 'BINAUTHZ_CONCURRENCY',
    insecureRegistry: 'BINAUTHZ_INSECURE_REGISTRIES',
    googleRegistry  : 'BINAUTHZ_GOOGLE_REGISTRIES',
    accessTokenFile : 'CLOUDSDK_AUTH_ACCESS_TOKEN_FILE',
    outputsFile     : 'BINAUTHZ_OUTPUTS_FILE',
    pae             : 'BINAUTHZ_PAE',
    dsseType        : 'BINAUTHZ_DSSE_TYPE',
    cosign          : 'BINAUTHZ_COSIGN',
    pkixPrivateKey    : 'BINAUTHZ_PKIX_PRIVATE_KEY',
    signatureAlgorithm: 'BINAUTHZ_SIGNATURE_ALGORITHM',
    pgpPrivateKey     : 'BINAUTHZ_PGP_PRIVATE_KEY',
    pgpPassphraseFile : 'BINAUTHZ_PGP_PASSPHRASE_FILE',
    cosignPrivateKey  : 'BINAUTHZ_COSIGN_PRIVATE_KEY',
    cosignPasswordFile: 'BINAUTHZ_COSIGN_PASSWORD_FILE',
    registryAuthFile  : 'BINAUTHZ_REGISTRY_AUTH_FILE',
]

// Arguments this step handles itself rather than passing on.
@groovy.transform.Field
static final List<String> STEP_ARGS = ['credentialsId']

// ARCHITECTURE.md, "Exit codes": the exit codes are part of the binary's interface.
@groovy.transform.Field
static final Map<Integer, String> EXIT_MEANING = [
    1: 'unexpected error',
    2: 'usage or bad input',
    3: 'authentication or permission denied',
    4: 'image, attestor or key not found',
    5: 'verification or policy denied',
    6: 'remote failure after retries',
]

@groovy.transform.Field
static final String DEFAULT_OUTPUTS_FILE = 'binauthz-attest.json'

def call(Map args = [:]) {
    def unknown = (args.keySet() as List<String>) - ARG_ENV.keySet() - STEP_ARGS
    if (unknown) {
        error("binauthzAttest: unknown argument(s) ${unknown.sort().join(', ')}; " +
              "known: ${(ARG_ENV.keySet() + STEP_ARGS).sort().join(', ')}")
    }
    Map passed = [outputsFile: DEFAULT_OUTPUTS_FILE] + args
    List<String> vars = []
    ARG_ENV.each { String name, String variable ->
        def value = passed[name]
        if (value != null && value != '') {
            String text = value instanceof Collection ? value.join(',') : value.toString()
            vars << "${variable}=${text}".toString()
        }
    }
    String outputsFile = passed.outputsFile.toString()

    def result = null
    withEnv(vars) {
        if (args.credentialsId) {
            withCredentials([file(credentialsId: args.credentialsId, variable: 'GOOGLE_APPLICATION_CREDENTIALS')]) {
                result = signAndRead(outputsFile)
            }
        } else {
            result = signAndRead(outputsFile)
        }
    }
    return result
}

// Runs the binary (a constant script: every value is in the environment) and returns its
// outputs: digest, image-ref, attestation, created, images.
def signAndRead(String outputsFile) {
    int status = sh(script: 'binauthz-attest sign --ci jenkins', returnStatus: true)
    if (status != 0) {
        error("binauthz-attest failed with exit code ${status} " +
              "(${EXIT_MEANING[status] ?: 'unexpected error'}); its message is in the log above")
    }
    return readJSON(file: outputsFile)
}
