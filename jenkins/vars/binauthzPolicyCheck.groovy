// binauthzPolicyCheck: `binauthz-attest policy check --ci jenkins` as a shared-library step, beside binauthzAttest
// (which signs) and built the same way: named arguments become the binary's BINAUTHZ_* variables,
// the script is a constant string (no value is ever interpolated into shell text), and the map
// returned is the outputs file the binary wrote.

// Named argument -> variable the binary reads. Lists are joined with commas.
@groovy.transform.Field
static final Map<String, String> ARG_ENV = [
    images          : 'BINAUTHZ_IMAGES',
    manifest        : 'BINAUTHZ_MANIFESTS',
    policy          : 'BINAUTHZ_POLICY_FILE',
    project         : 'BINAUTHZ_POLICY_PROJECT',
    region          : 'BINAUTHZ_REGION',
    running         : 'BINAUTHZ_POLICY_RUNNING',
    registryAuthFile: 'BINAUTHZ_REGISTRY_AUTH_FILE',
    platform        : 'BINAUTHZ_POLICY_PLATFORM',
    cluster         : 'BINAUTHZ_CLUSTER',
    namespace       : 'BINAUTHZ_NAMESPACE',
    serviceAccount  : 'BINAUTHZ_SERVICE_ACCOUNT',
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
        error("binauthzPolicyCheck: unknown argument(s) ${unknown.sort().join(', ')}; " +
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

// Runs the binary (a constant script) and returns its outputs file: decision, json.
def runAndRead(String outputsFile) {
    int status = sh(script: 'binauthz-attest policy check --ci jenkins', returnStatus: true)
    if (status != 0) {
        error("binauthz-attest policy check failed with exit code ${status} " +
              "(${EXIT_MEANING[status] ?: 'unexpected error'}); its message is in the log above")
    }
    return readJSON(file: outputsFile)
}
