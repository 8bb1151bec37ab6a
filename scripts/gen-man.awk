# Generate one man page in section 3 per public function (each SHOAL_API
# declaration) from the comments of the public headers.
#
#   awk -v outdir=DIR -v version=0.1.0 -f scripts/gen-man.awk include/shoal/*.h
#
# writes DIR/<function>.3 for every function and DIR/shoal.3, an index.
# POSIX awk only (mawk, gawk, busybox): the build runs it, and awk is
# everywhere a C toolchain is.
#
# What it reads, per header:
#   - the file comment (the first multi-line comment): its "Thread safety:"
#     paragraph is every function's THREAD SAFETY section, and its
#     "Blocking and system calls:" paragraph holds one entry per function or
#     group of functions:
#         Blocking and system calls:
#           shoal_a, shoal_b: text, continued on lines
#             indented further.
#     which is the function's BLOCKING AND SYSTEM CALLS section;
#   - the comment right above a declaration, or above a run of declarations
#     with no blank line between them (the run shares it): DESCRIPTION. In a
#     shared comment, "shoal_a - text" (or "shoal_a / shoal_b - text") starts
#     the part about shoal_a, which runs to the next such entry or the end of
#     its paragraph; the rest of the comment is about the whole run.
#     NAME's summary is the first sentence of the function's part (or of the
#     comment); ERRORS lists each -E... code named in the function's part or
#     in the shared rest, with the words in parentheses after it, or on its
#     line in a table.
# A function with no comment, no entry or no thread-safety paragraph still
# gets a page; the missing section says "Not documented in the header", which
# test/man-pages.sh refuses.

function trim(s) {
	sub(/^[ \t\n]+/, "", s)
	sub(/[ \t\n]+$/, "", s)
	return s
}

function squash(s) {
	gsub(/[ \t\n]+/, " ", s)
	return trim(s)
}

# Text to roff: escape backslashes and minus signs, protect a leading dot or
# quote, and set @param in italics.
function roff(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	gsub(/@[A-Za-z_][A-Za-z_0-9]*/, "\\fI&\\fR", s)
	gsub(/\\fI@/, "\\fI", s)
	if (s ~ /^[.']/)
		s = "\\&" s
	return s
}

# Up to the end of the first sentence (". ", or ";" outside parentheses).
function first_sentence(s,    i, c, d, n) {
	s = squash(s)
	n = length(s)
	d = 0
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		if (c == "(")
			d++
		else if (c == ")")
			d--
		else if (d <= 0 && c == ";")
			break
		else if (c == "." && (i == n || substr(s, i + 1, 1) == " "))
			break
	}
	s = substr(s, 1, i - 1)
	gsub(/@/, "", s)
	# A NAME line is one line: cut a long sentence at a word.
	if (length(s) > 100) {
		s = substr(s, 1, 90)
		sub(/[ ,;:(]+[^ ]*$/, "", s)
		s = s "..."
	}
	return s
}

# ---- reading the headers

FNR == 1 {
	file = FILENAME
	sub(/^(.*\/)?include\//, "", file)
	if (file !~ /^shoal/)
		file = "shoal/" file
	in_c = 0; depth = 0; in_cpp = 0; in_decl = 0; in_typedef = 0
	live = 0; have_doc[file] = 0
	files[++nfiles] = file
}

# Comment text of the current line, without the leading " * ".
function cadd(t) {
	sub(/^[ \t]*\*?/, "", t)
	sub(/^ /, "", t)
	sub(/[ \t]+$/, "", t)
	if (t == "*")
		t = ""
	if (cn == 0 && t == "")
		return
	cbuf = cn++ ? cbuf "\n" t : t
}

function cend() {
	in_c = 0
	if (!cdoc)
		return
	cbuf = trim(cbuf)
	if (!have_doc[file] && cn > 1 && cbuf !~ /SPDX-License-Identifier/) {
		have_doc[file] = 1
		filedoc[file] = cbuf
		return
	}
	ncom++
	comment[ncom] = cbuf
	live = ncom
}

function code_line(code,    t, name, k) {
	t = code
	if (in_decl) {
		decl = decl " " trim(t)
		if (t ~ /;/)
			end_decl()
		return
	}
	if (in_typedef) {
		tdbuf = tdbuf " " trim(t)
		if (t ~ /;/)
			end_typedef()
		return
	}
	if (depth == 0 && t ~ /^[ \t]*SHOAL_API[ \t]/) {
		in_decl = 1
		decl = trim(t)
		if (t ~ /;/)
			end_decl()
		return
	}
	if (depth == 0 && t ~ /^[ \t]*typedef[ \t]/) {
		in_typedef = 1
		tdbuf = trim(t)
		if (t ~ /;/)
			end_typedef()
		return
	}
	if (t !~ /^[ \t]*$/)
		live = 0
	t = code
	depth += gsub(/\{/, "{", t)
	t = code
	depth -= gsub(/\}/, "}", t)
}

# A function pointer type (typedef int (*name)(...);): shown in the
# SYNOPSIS of every function that takes one.
function end_typedef(    d, name) {
	in_typedef = 0
	d = squash(tdbuf)
	gsub(/\( /, "(", d)
	gsub(/ \)/, ")", d)
	if (!match(d, /\(\*[A-Za-z_][A-Za-z_0-9]*\)/))
		return
	name = substr(d, RSTART + 2, RLENGTH - 3)
	tdef[name] = d
}

function end_decl(    d, k, name) {
	in_decl = 0
	d = squash(decl)
	sub(/^SHOAL_API /, "", d)
	gsub(/\( /, "(", d)
	gsub(/ \)/, ")", d)
	k = index(d, "(")
	name = substr(d, 1, k - 1)
	sub(/.*[ *]/, "", name)
	if (name == "" || (name in fn_index))
		return
	nfn++
	fn_name[nfn] = name
	fn_index[name] = nfn
	fn_decl[nfn] = d
	fn_type[nfn] = trim(substr(d, 1, k - 1 - length(name)))
	fn_file[nfn] = file
	fn_cid[nfn] = live
}

{
	line = $0
	if (!in_c && line ~ /^#ifdef __cplusplus/) {
		in_cpp = 1
		next
	}
	if (in_cpp) {
		if (line ~ /^#endif/)
			in_cpp = 0
		next
	}
	if (!in_c && line ~ /^[ \t]*$/) {
		live = 0
		next
	}
	code = ""
	while (length(line) > 0) {
		if (in_c) {
			e = index(line, "*/")
			if (e == 0) {
				cadd(line)
				line = ""
			} else {
				cadd(substr(line, 1, e - 1))
				cend()
				line = substr(line, e + 2)
			}
		} else {
			s = index(line, "/*")
			if (s == 0) {
				code = code line
				line = ""
			} else {
				code = code substr(line, 1, s - 1)
				in_c = 1
				cbuf = ""
				cn = 0
				# A comment on a line of its own, outside any
				# braces and declaration, documents what follows.
				cdoc = depth == 0 && !in_decl && code ~ /^[ \t]*$/
				line = substr(line, s + 2)
			}
		}
	}
	if (code !~ /^[ \t]*$/)
		code_line(code)
}

# ---- what a header says about all its functions

# From @head (at a line start or within a line) to the end of its
# paragraph in @doc, without @head.
function paragraph(doc, head,    n, L, i, out, on, k) {
	n = split(doc, L, "\n")
	on = 0
	out = ""
	for (i = 1; i <= n; i++) {
		if (!on && (k = index(L[i], head)) > 0) {
			on = 1
			L[i] = substr(L[i], k + length(head))
		} else if (on && L[i] ~ /^[ \t]*$/) {
			break
		}
		if (on)
			out = out L[i] "\n"
	}
	return trim(out)
}

# Fill blocking[file, name] (and blocking_def[file], from an entry that
# starts "Every function" or "Every other function") from the entries of
# the "Blocking and system calls:" paragraph of @file's comment @doc. An
# entry is "  NAMES: TEXT", NAMES a comma-separated list, both continued on
# lines indented by four spaces.
function parse_blocking(file, doc,    n, L, i, ent, k, N, j, m, names) {
	n = split(doc, L, "\n")
	i = 1
	while (i <= n && L[i] != "Blocking and system calls:")
		i++
	ent = ""
	for (i++; i <= n + 1; i++) {
		if (i <= n && L[i] ~ /^    [^ ]/ && ent != "") {
			ent = ent " " trim(L[i])
			continue
		}
		if (ent != "") {
			k = index(ent, ":")
			names = substr(ent, 1, k - 1)
			if (names ~ /^Every (other )?function/) {
				blocking_def[file] = squash(substr(ent, k + 1))
			} else {
				m = split(names, N, ",")
				for (j = 1; j <= m; j++)
					blocking[file, trim(N[j])] = squash(substr(ent, k + 1))
			}
			ent = ""
		}
		if (i > n || L[i] !~ /^  [^ ]/)
			break
		ent = trim(L[i])
	}
}

# ---- one function's part of its comment

# Sets part_own (the function's entry, "" if none) and part_rest (the text
# outside every entry of the comment) for function @f.
function split_comment(f, text,    flat, pos, st, en, names, N, m, j, mine, ok, pstart, k, out, nxt) {
	part_own = ""
	part_rest = text
	flat = text
	gsub(/\n/, " ", flat)
	# Entries: "shoal_x - " or "shoal_x / shoal_y - " naming functions of
	# this comment, at a line start or after a sentence.
	nent = 0
	pos = 1
	while (match(substr(flat, pos), /shoal_[a-z0-9_]+( \/ shoal_[a-z0-9_]+)* - /)) {
		st = pos + RSTART - 1
		en = st + RLENGTH
		names = substr(flat, st, RLENGTH - 3)
		m = split(names, N, " / ")
		mine = 0
		ok = 1
		for (j = 1; j <= m; j++) {
			if (!(N[j] in fn_index) || fn_cid[fn_index[N[j]]] != fn_cid[f])
				ok = 0
			if (N[j] == fn_name[f])
				mine = 1
		}
		if (ok) {
			nent++
			ent_s[nent] = st
			ent_t[nent] = en
			ent_mine[nent] = mine
		}
		pos = en
	}
	if (nent == 0)
		return
	# An entry ends at the next entry or at the end of its paragraph.
	for (k = 1; k <= nent; k++) {
		nxt = k < nent ? ent_s[k + 1] : length(text) + 1
		pstart = index(substr(text, ent_t[k]), "\n\n")
		if (pstart && ent_t[k] + pstart - 1 < nxt)
			nxt = ent_t[k] + pstart - 1
		ent_e[k] = nxt
	}
	out = ""
	st = 1
	for (k = 1; k <= nent; k++) {
		out = out substr(text, st, ent_s[k] - st)
		if (ent_mine[k])
			part_own = part_own " " substr(text, ent_t[k], ent_e[k] - ent_t[k])
		st = ent_e[k]
	}
	out = out substr(text, st)
	part_rest = out
	part_own = trim(part_own)
}

# The -E... codes of @s, each once, with what the text says about it, into
# err_code[1..n_err] and err_why[].
function collect_errors(s,    n, L, i, rest, code, why, depthp, c, j, k, ch) {
	n = split(s, L, "\n")
	for (i = 1; i <= n; i++) {
		rest = L[i]
		while (match(rest, /-E[A-Z0-9]+/)) {
			code = substr(rest, RSTART + 1, RLENGTH - 1)
			rest = substr(rest, RSTART + RLENGTH)
			why = ""
			if (rest ~ /^ \(/) {
				# Up to the matching parenthesis, across lines.
				why = ""
				depthp = 0
				c = substr(rest, 2)
				j = i
				while (1) {
					for (k = 1; k <= length(c); k++) {
						ch = substr(c, k, 1)
						if (ch == "(")
							depthp++
						else if (ch == ")")
							depthp--
						why = why ch
						if (depthp == 0)
							break
					}
					if (depthp == 0 || j >= n)
						break
					why = why " "
					c = L[++j]
				}
				sub(/^\(/, "", why)
				sub(/\)$/, "", why)
			} else if (rest ~ /^   */ && L[i] ~ /^[ \t]*-E/) {
				why = trim(rest)
				rest = ""
			}
			why = squash(why)
			if (!(code in err_seen)) {
				err_seen[code] = ++n_err
				err_code[n_err] = code
				err_why[n_err] = why
			} else if (err_why[err_seen[code]] == "" && why != "") {
				err_why[err_seen[code]] = why
			}
		}
	}
}

function page(f,    f_, pg, name, path, cid, text, summary, t, k, u, sib, ns, S, i, th, bl) {
	name = fn_name[f]
	path = outdir "/" name ".3"
	cid = fn_cid[f]
	text = cid ? comment[cid] : ""
	split_comment(f, text)
	summary = first_sentence(part_own != "" ? part_own : part_rest)
	sub(/^shoal_[a-z0-9_]+ - /, "", summary)
	if (summary == "")
		summary = "see DESCRIPTION"
	u = toupper(name)
	pg = pg ".\\\" Generated by scripts/gen-man.awk from <" fn_file[f] ">: edit the header." "\n"
	pg = pg ".TH " u " 3 \"\" \"shoal " version "\" \"shoal Library Functions\"" "\n"
	# Names and code do not hyphenate or stretch well: neither.
	pg = pg ".nh\n.ad l\n"
	pg = pg ".SH NAME" "\n"
	pg = pg name " \\- " roff(summary) "\n"
	pg = pg ".SH SYNOPSIS" "\n"
	pg = pg ".nf" "\n"
	pg = pg ".B #include <shoal.h>" "\n"
	pg = pg ".PP" "\n"
	t = fn_decl[f]
	for (k in tdef)
		if (match(t, "[(, ]" k "[ ,)]"))
			pg = pg roff(tdef[k]) "\n"
	k = index(t, name "(")
	pg = pg roff(substr(t, 1, k - 1)) "\\fB" roff(name) "\\fP" roff(substr(t, k + length(name))) "\n"
	pg = pg ".fi" "\n"
	pg = pg ".PP" "\n"
	pg = pg "Link with \\fI\\-lshoal\\fP (pkg\\-config: \\fIshoal\\fP)." "\n"
	pg = pg ".SH DESCRIPTION" "\n"
	if (text == "") {
		pg = pg "Not documented in the header <" fn_file[f] ">." "\n"
	} else {
		# The whole comment: an entry makes sense beside its siblings.
		pg = pg emit_text(text)
	}
	# Errors: the function's own part and the shared rest of its comment.
	n_err = 0
	for (k in err_seen)
		delete err_seen[k]
	collect_errors(part_own)
	collect_errors(part_rest)
	pg = pg ".SH RETURN VALUE" "\n"
	if (fn_type[f] == "void")
		pg = pg "None." "\n"
	else if ((fn_type[f] == "int" || fn_type[f] == "ssize_t") && (n_err > 0 || text ~ /-errno/))
		pg = pg "As DESCRIPTION says on success (0 or a count, never negative); on failure a negative errno value, and \\fBshoal_last_error\\fP(3) says what exactly failed. The outputs are left untouched on failure." "\n"
	else
		pg = pg "As DESCRIPTION says; this function reports no error codes." "\n"
	if (n_err > 0) {
		pg = pg ".SH ERRORS" "\n"
		for (k = 1; k <= n_err; k++) {
			pg = pg ".TP" "\n"
			pg = pg ".B \\-" err_code[k] "\n"
			pg = pg (err_why[k] != "" ? roff(err_why[k]) : "See DESCRIPTION.") "\n"
		}
	}
	pg = pg ".SH BLOCKING AND SYSTEM CALLS" "\n"
	f_ = fn_file[f]
	bl = ((f_, name) in blocking) ? blocking[f_, name] : blocking_def[f_]
	bl = toupper(substr(bl, 1, 1)) substr(bl, 2)
	pg = pg (bl != "" ? roff(bl) : "Not documented in the header <" fn_file[f] ">.") "\n"
	pg = pg ".SH THREAD SAFETY" "\n"
	th = thread_safety[fn_file[f]]
	if (th != "") {
		pg = pg emit_text(th)
	} else {
		pg = pg "Not documented in the header <" fn_file[f] ">." "\n"
	}
	pg = pg ".SH SEE ALSO" "\n"
	ns = 0
	for (i = 1; i <= nfn; i++)
		if (i != f && cid && fn_cid[i] == cid)
			S[++ns] = "\\fB" roff(fn_name[i]) "\\fP(3)"
	S[++ns] = "\\fBshoal_last_error\\fP(3)"
	S[++ns] = "\\fBshoal\\fP(3)"
	sib = ""
	for (i = 1; i <= ns; i++)
		sib = sib (i > 1 ? ",\n" : "") S[i]
	pg = pg sib "\n"
	pg = pg ".PP" "\n"
	pg = pg "The header <" fn_file[f] "> and the documents in docs/ of the shoal sources." "\n"
	printf "%s", pg > path
	close(path)
}

# Comment text as roff: paragraphs split at blank lines; a paragraph with an
# indented line (a table, a list, code) is kept as it is, the others are
# filled.
function emit_text(text,    n, L, i, para, verb, j, P, emit_buf) {
	emit_buf = ""
	n = split(text, L, "\n")
	para = 0
	for (i = 1; i <= n + 1; i++) {
		if (i <= n && L[i] !~ /^[ \t]*$/) {
			P[++para] = L[i]
			continue
		}
		if (para == 0)
			continue
		verb = 0
		for (j = 1; j <= para; j++)
			if (P[j] ~ /^[ \t]/)
				verb = 1
		emit_buf = emit_buf ".PP\n"
		if (verb)
			emit_buf = emit_buf ".nf\n"
		for (j = 1; j <= para; j++) {
			if (verb) {
				gsub(/\t/, "        ", P[j])
				emit_buf = emit_buf roff(P[j]) "\n"
			} else {
				emit_buf = emit_buf roff(trim(P[j])) "\n"
			}
		}
		if (verb)
			emit_buf = emit_buf ".fi\n"
		para = 0
	}
	return emit_buf
}

END {
	if (outdir == "") {
		print "gen-man.awk: -v outdir=DIR is required" > "/dev/stderr"
		exit 2
	}
	for (i = 1; i <= nfiles; i++) {
		t = paragraph(filedoc[files[i]], "Thread safety:")
		thread_safety[files[i]] = toupper(substr(t, 1, 1)) substr(t, 2)
		parse_blocking(files[i], filedoc[files[i]])
	}
	for (f = 1; f <= nfn; f++)
		page(f)
	# The index page.
	path = outdir "/shoal.3"
	print ".\\\" Generated by scripts/gen-man.awk from the public headers." > path
	print ".TH SHOAL 3 \"\" \"shoal " version "\" \"shoal Library Functions\"" > path
	print ".nh\n.ad l" > path
	print ".SH NAME" > path
	print "shoal \\- brokerless shared\\-memory IPC for Linux" > path
	print ".SH SYNOPSIS" > path
	print ".nf" > path
	print ".B #include <shoal.h>" > path
	print ".fi" > path
	print ".PP" > path
	print "Link with \\fI\\-lshoal\\fP (pkg\\-config: \\fIshoal\\fP)." > path
	print ".SH DESCRIPTION" > path
	print "A function that can fail returns >= 0 on success and a negative errno value on failure, and \\fBshoal_last_error\\fP(3) says what exactly failed. Each function below has its own page; the overview of each header is the comment at its top." > path
	for (i = 1; i <= nfiles; i++) {
		print ".SS <" files[i] ">" > path
		for (f = 1; f <= nfn; f++)
			if (fn_file[f] == files[i])
				print ".BR " fn_name[f] " (3)" > path
	}
	close(path)
	printf "gen-man.awk: %d pages in %s\n", nfn + 1, outdir
}
