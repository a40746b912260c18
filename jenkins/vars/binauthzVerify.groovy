// binauthzVerify: `binauthz-attest verify --ci jenkins` as a shared-library step, beside binauthzAttest
// (which signs) and built the same way: named arguments become the binary's BINAUTHZ_* variables,
// the script is a constant string (no value is ever interpolated into shell text), and the map
// returned is the outputs file the binary wrote.

// Named argument -> variable the binary reads. Lists are joined with commas.
@groovy.transform.Field
static final Map<String, String> ARG_ENV = [
    images          : 'BINAUTHZ_IMAGES',
    imagesFile      : 'BINAUTHZ_IMAGES_FILE',
    attestor        : 'BINAUTHZ_ATTESTOR',
    registryAuthFile: 'BINAUTHZ_REGISTRY_AUTH_FILE',
    attestorProject : 'BINAUTHZ_ATTESTOR_PROJECT',
    cosignKey       : 'BINAUTHZ_COSIGN_KEY',
    dsseType        : 'BINAUTHZ_DSSE_TYPE',
    timeout         : 'BINAUTHZ_TIMEOUT',
    concurrency     : 'BINAUTHZ_CONCURRENCY',
    insecureRegistry: 'BINAUTHZ_INSECURE_REGISTRIES',
    googleRegistry  : 'BINAUTHZ_GOOGLE_REGISTRIES',
    accessTokenFile : 'CLOUDSDK_AUTH_ACCESS_TOKEN_FILE',
    outputsFile     : 'BINAUTHZ_OUTPUTS_FILE',
]

// Arguments this step handles itself rather than passing on.
@groovy.transform.Field
static final List<String> STEP_ARGS = ['credentialsId']

// ARCHITECTURE.md, "Exit codes".
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
        error("binauthzVerify: unknown argument(s) ${unknown.sort().join(', ')}; " +
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
                result = runAndRead(outputsFile)
            }
        } else {
            result = runAndRead(outputsFile)
        }
    }
    return result
}

// Runs the binary (a constant script) and returns its outputs file: verified, verdicts.
def runAndRead(String outputsFile) {
    int status = sh(script: 'binauthz-attest verify --ci jenkins', returnStatus: true)
    if (status != 0) {
        error("binauthz-attest verify failed with exit code ${status} " +
              "(${EXIT_MEANING[status] ?: 'unexpected error'}); its message is in the log above")
    }
    return readJSON(file: outputsFile)
}
