# CHANGELOG.md (Keep a Changelog) -> one Debian changelog entry, for the
# packages' /usr/share/doc/<package>/changelog.gz (cmake/deb/prebuild.cmake).
#
#   awk -v source=cohort -v version=0.1.0 -v maintainer='Name <addr>' \
#       -v date='Mon, 07 Dec 2026 11:02:07 +0000' -f changelog.awk CHANGELOG.md
#
# The entry is the "## Unreleased" section, or else the section of this
# version ("## 0.1.0", "## [0.1.0] - ..."): each "### Added|Changed|Fixed" a
# top-level item, each "- " bullet a sub-item, wrapped at 79 columns.
BEGIN {
  width = 79; insection = 0; found = 0; item = ""; items = 0
  if (source == "" || version == "" || maintainer == "" || date == "") {
    print "changelog.awk: source, version, maintainer and date are required" > "/dev/stderr"
    exit 2
  }
  vre = version; gsub(/\./, "\\.", vre)
}

# Writes text after prefix, continuation lines indented to indent columns.
function wrap(prefix, text, indent,    n, words, i, line, pad) {
  pad = sprintf("%" indent "s", "")
  n = split(text, words, /[ \t]+/)
  line = prefix
  for (i = 1; i <= n; i++) {
    if (words[i] == "") continue
    if (line != prefix && line != pad && length(line) + 1 + length(words[i]) > width) {
      out[++lines] = line
      line = pad
    }
    if (line == prefix || line == pad) line = line words[i]; else line = line " " words[i]
  }
  if (line != prefix && line != pad) out[++lines] = line
}

function flush() {
  if (item != "") { wrap("    - ", item, 6); items++ }
  item = ""
}

/^## / {
  if (insection) { flush(); insection = 0; exit_after = 1 }
  if (!found && !exit_after && ($0 ~ /^## +\[?[Uu]nreleased\]?/ || $0 ~ ("^## +\\[?v?" vre "\\]?([ \t]|$)"))) {
    insection = 1; found = 1
  }
  next
}
!insection { next }
/^### / { flush(); h = $0; sub(/^### +/, "", h); out[++lines] = "  * " h ":"; next }
/^[-*] / { flush(); item = substr($0, 3); next }
/^[ \t]*$/ { flush(); next }
/^[ \t]+/ { t = $0; sub(/^[ \t]+/, "", t); item = (item == "" ? t : item " " t); next }
{ flush(); item = $0 }

END {
  if (!found) {
    print "changelog.awk: no \"## Unreleased\" or \"## " version "\" section" > "/dev/stderr"
    exit 1
  }
  flush()
  print source " (" version ") unstable; urgency=medium"
  print ""
  if (lines == 0) print "  * Release " version "."
  for (i = 1; i <= lines; i++) print out[i]
  print ""
  print " -- " maintainer "  " date
}
