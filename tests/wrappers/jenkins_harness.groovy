// Runs jenkins/vars/binauthzAttest.groovy outside Jenkins with its steps stubbed, and prints
// what the step did as one JSON object on stdout. `sh` is real: it runs the script text with
// /bin/sh in the environment withEnv/withCredentials built, so a fake binauthz-attest on PATH
// sees exactly what the real one would.
// Usage: groovy jenkins_harness.groovy VARS_FILE SCENARIO_JSON
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

def scenario = new JsonSlurper().parse(new File(args[1]))
def record = [calls: []]
List<Map> overlays = []
def currentEnv = { -> overlays.inject([:]) { acc, m -> acc + m } }
def inWorkDir = { String path -> new File(path).absolute ? new File(path) : new File(scenario.workDir as String, path) }

def binding = new Binding()
binding.withEnv = { List vars, Closure body ->
    record.calls << 'withEnv'
    record.withEnv = vars.collect { it.toString() }
    overlays << vars.collectEntries { String v -> int i = v.indexOf('='); [(v.substring(0, i)): v.substring(i + 1)] }
    try { body() } finally { overlays.remove(overlays.size() - 1) }
}
binding.file = { Map m -> [kind: 'file'] + m }
binding.withCredentials = { List creds, Closure body ->
    record.calls << 'withCredentials'
    record.credentials = creds
    overlays << creds.collectEntries { [(it.variable): scenario.secretFile] }
    try { body() } finally { overlays.remove(overlays.size() - 1) }
}
binding.sh = { Map m ->
    record.calls << 'sh'
    record.sh = m.collectEntries { k, v -> [(k): v.toString()] }
    record.shScriptClass = m.script.getClass().name
    def pb = new ProcessBuilder('/bin/sh', '-c', m.script.toString())
    pb.environment().putAll(currentEnv())
    pb.environment().PATH = scenario.binDir + ':' + System.getenv('PATH')
    pb.directory(new File(scenario.workDir as String))
    pb.redirectOutput(ProcessBuilder.Redirect.to(new File(scenario.workDir as String, 'sh.stdout')))
    pb.redirectError(ProcessBuilder.Redirect.to(new File(scenario.workDir as String, 'sh.stderr')))
    int status = pb.start().waitFor()
    m.returnStatus ? status : (status == 0 ? null : { throw new RuntimeException("script returned exit code ${status}") }())
}
binding.readJSON = { Map m ->
    record.calls << 'readJSON'
    record.readJSON = m.collectEntries { k, v -> [(k): v.toString()] }
    new JsonSlurper().parse(inWorkDir(m.file.toString()))
}
binding.error = { String message ->
    record.calls << 'error'
    record.error = message
    throw new RuntimeException(message) // Jenkins throws hudson.AbortException
}
binding.echo = { String message -> System.err.println(message) }

def step = new GroovyShell(binding).parse(new File(args[0]))
try {
    record.result = step.call(scenario.args)
} catch (RuntimeException e) {
    record.threw = e.message
}
println JsonOutput.toJson(record)
