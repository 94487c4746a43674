# Prints each failed test of a .trx file (.ci/run, after the suites): its name, duration, message and the top of its
# stack trace, so the end of a CI log says what failed even when the test's own log above it is long.
function unescape(s) {
  gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "'", s); gsub(/&#xD;/, "", s); gsub(/&#xA;/, " ", s); gsub(/&amp;/, "\\&", s)
  return s
}
function attribute(line, name,   m) {
  if (match(line, name "=\"[^\"]*\"")) { m = substr(line, RSTART + length(name) + 2, RLENGTH - length(name) - 3); return unescape(m) }
  return ""
}
/<UnitTestResult / { failed = ($0 ~ /outcome="Failed"/); if (failed) { print "FAILED " attribute($0, "testName") " (" attribute($0, "duration") ")" } }
failed && /<Message>/ { inMessage = 1; lines = 0; sub(/.*<Message>/, "") }
failed && inMessage {
  done = sub(/<\/Message>.*/, "")
  if (lines++ < 25) print "  " unescape($0)
  if (done) inMessage = 0
  next
}
failed && /<StackTrace>/ { inStack = 1; lines = 0; sub(/.*<StackTrace>/, "") }
failed && inStack {
  done = sub(/<\/StackTrace>.*/, "")
  if (lines++ < 6) print "  " unescape($0)
  if (done) inStack = 0
}
/<\/UnitTestResult>/ { failed = 0 }
