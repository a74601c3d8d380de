/*
 * prompt_manager: the command-line program installed with the extension.
 *
 *   prompt_manager import [OPTION]... DIR   a PromptManager gem prompts_dir
 *                                           into pm_prompts
 *   prompt_manager export [OPTION]... DIR   pm_prompts back into that layout
 *
 * A libpq client (no psql underneath): file contents travel as parameters
 * of PQexecParams, so every byte of a prompt (CRLF, trailing newlines or
 * none) reaches the table and comes back unchanged.  The connection takes
 * psql's options (-h -p -U -d, where -d may be a conninfo string or URI)
 * and libpq's environment variables (PGHOST, PGPORT, PGUSER, PGDATABASE,
 * PGPASSWORD, PGSERVICE, PGSSLMODE, ...); files are read and written as
 * UTF-8 unless PGCLIENTENCODING says otherwise.
 *
 * The gem's layout: DIR/ID.txt is the template, DIR/ID.json (optional) the
 * parameters, a JSON object; an id with slashes lives in subdirectories
 * (DIR/a/b.txt is the prompt "a/b").  Its includes name files relative to
 * the application's working directory (//include common/footer.txt);
 * import rewrites them to ids (//include common/footer), see
 * rewrite_includes().
 *
 * Import is one transaction, and idempotent: a prompt whose content and
 * parameters already hold the same bytes gets no UPDATE at all (so no new
 * row version, revision, or version row).  Export writes every prompt back
 * as DIR/ID.txt and, when its parameters are not {}, DIR/ID.json, so that
 * importing the export changes nothing.  docs/migrating-from-the-gem.md
 * describes both.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libpq-fe.h"

#define PM_CLI_VERSION "0.2.0"
#define PM_ID_MAX 255

static const char *progname = "prompt_manager";

/* Command-line options. */
typedef struct Options
{
	const char *host;
	const char *port;
	const char *user;
	const char *dbname;
	bool		dry_run;
	bool		force;
	bool		verbose;
	const char **prefixes;		/* --include-prefix, each ending in '/' */
	int			nprefixes;
} Options;

/* One prompt found in the directory being imported. */
typedef struct ImportEntry
{
	char	   *id;
	char	   *txt_path;		/* NULL: a .json without its .txt */
	char	   *json_path;		/* NULL: no parameters file */
	char	   *content;		/* after include rewriting, NUL-terminated */
	char	   *params;			/* the .json file's text, or "{}" */
} ImportEntry;

/* An include rewritten to an id, to warn when that id exists nowhere. */
typedef struct IncludeRef
{
	char	   *file;
	int			line;
	char	   *id;
} IncludeRef;

typedef struct ImportState
{
	ImportEntry *entries;
	int			nentries;
	int			maxentries;
	IncludeRef *refs;
	int			nrefs;
	int			maxrefs;
	int			errors;
} ImportState;

/* A growable byte buffer. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

/* ---------------------------------------------------------------- helpers */

static void pm_error(const char *fmt,...) __attribute__((format(printf, 1, 2)));
static void pm_warning(const char *fmt,...) __attribute__((format(printf, 1, 2)));
static void pm_vmessage(const char *prefix, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Print "prompt_manager: " PREFIX message to stderr. */
static void
pm_vmessage(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", progname, prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* Print "prompt_manager: message" to stderr. */
static void
pm_error(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	pm_vmessage("", fmt, ap);
	va_end(ap);
}

/* Print "prompt_manager: warning: message" to stderr. */
static void
pm_warning(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	pm_vmessage("warning: ", fmt, ap);
	va_end(ap);
}

/* malloc that exits on failure. */
static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		pm_error("out of memory");
		exit(1);
	}
	return p;
}

/* realloc that exits on failure. */
static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
	{
		pm_error("out of memory");
		exit(1);
	}
	return p;
}

/* strdup that exits on failure. */
static char *
xstrdup(const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

/* A new string: the n bytes at s, NUL-terminated. */
static char *
xstrndup(const char *s, size_t n)
{
	char	   *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* A new string "a" + "b" + "c". */
static char *
concat3(const char *a, const char *b, const char *c)
{
	size_t		la = strlen(a),
				lb = strlen(b),
				lc = strlen(c);
	char	   *p = xmalloc(la + lb + lc + 1);

	memcpy(p, a, la);
	memcpy(p + la, b, lb);
	memcpy(p + la + lb, c, lc + 1);
	return p;
}

/* Append n bytes to a buffer, keeping it NUL-terminated. */
static void
buf_append(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;

		while (b->len + n + 1 > cap)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_puts(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

/* Whitespace as Ruby's String#strip sees it (NUL cannot occur here). */
static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * Is s a valid prompt id, as the table's check constraints define one:
 * 1 to 255 ASCII letters, digits, '_', '-' and '/', not starting with '/'?
 */
static bool
valid_prompt_id(const char *s)
{
	size_t		n = strlen(s);

	if (n == 0 || n > PM_ID_MAX || s[0] == '/')
		return false;
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!(isascii(c) && (isalnum(c) || c == '_' || c == '-' || c == '/')))
			return false;
	}
	return true;
}

/* Does s end with suffix? */
static bool
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t		m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/*
 * Read a whole file into a NUL-terminated malloc'd buffer; *len gets its
 * length.  NULL (with a message) when it cannot be read, or holds a NUL
 * byte, which a text value cannot hold.
 */
static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	Buf			b = {0};
	char		chunk[65536];
	size_t		n;

	if (f == NULL)
	{
		pm_error("could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	buf_append(&b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	if (ferror(f))
	{
		pm_error("could not read \"%s\": %s", path, strerror(errno));
		fclose(f);
		free(b.data);
		return NULL;
	}
	fclose(f);
	if (memchr(b.data, '\0', b.len) != NULL)
	{
		pm_error("\"%s\" contains a NUL byte, which a prompt cannot hold", path);
		free(b.data);
		return NULL;
	}
	*len = b.len;
	return b.data;
}

/* ---------------------------------------------------------------- connection */

/*
 * Connect as psql would: the options given, then libpq's environment
 * variables and defaults for the rest.  -d may be a conninfo string or a
 * URI (expand_dbname).  Files are UTF-8 unless PGCLIENTENCODING is set.
 * Asks for a password on a terminal when the server wants one and none was
 * given.  Exits on failure.
 */
static PGconn *
connect_db(const Options *opt)
{
	const char *keywords[8];
	const char *values[8];
	char	   *password = NULL;
	PGconn	   *conn;

	for (;;)
	{
		int			i = 0;

		keywords[i] = "host";
		values[i++] = opt->host;
		keywords[i] = "port";
		values[i++] = opt->port;
		keywords[i] = "user";
		values[i++] = opt->user;
		keywords[i] = "password";
		values[i++] = password;
		keywords[i] = "client_encoding";
		values[i++] = getenv("PGCLIENTENCODING") ? NULL : "UTF8";
		/* last but one: a conninfo in -d overrides the options above */
		keywords[i] = "dbname";
		values[i++] = opt->dbname;
		keywords[i] = "fallback_application_name";
		values[i++] = progname;
		keywords[i] = NULL;
		values[i] = NULL;

		conn = PQconnectdbParams(keywords, values, 1);
		if (conn == NULL)
		{
			pm_error("out of memory");
			exit(1);
		}
		if (PQstatus(conn) == CONNECTION_BAD && PQconnectionNeedsPassword(conn) &&
			password == NULL && isatty(fileno(stdin)))
		{
			char	   *p = getpass("Password: ");

			PQfinish(conn);
			password = xstrdup(p ? p : "");
			continue;
		}
		break;
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		pm_error("could not connect to the database: %s", PQerrorMessage(conn));
		PQfinish(conn);
		exit(1);
	}
	free(password);
	return conn;
}

/* Print a failed result's message, with its detail, hint and context. */
static void
report_result_error(const char *what, const PGresult *res)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	const char *context = PQresultErrorField(res, PG_DIAG_CONTEXT);

	if (msg == NULL)
		msg = PQresultErrorMessage(res);
	pm_error("%s: %s", what, msg);
	if (detail)
		fprintf(stderr, "DETAIL:  %s\n", detail);
	if (hint)
		fprintf(stderr, "HINT:  %s\n", hint);
	if (context)
		fprintf(stderr, "CONTEXT:  %s\n", context);
}

/* Run a command that returns no rows; false (with a message) on failure. */
static bool
exec_command(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		report_result_error(sql, res);
	PQclear(res);
	return ok;
}

/*
 * The schema of the extension, as a quoted identifier ready to prefix
 * names with; every name is qualified with it, whatever search_path says.
 * Exits when the extension is not installed in this database.
 */
static char *
extension_schema(PGconn *conn)
{
	PGresult   *res;
	char	   *schema;

	res = PQexec(conn,
				 "SELECT pg_catalog.quote_ident(n.nspname) "
				 "FROM pg_catalog.pg_extension e "
				 "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
				 "WHERE e.extname = 'prompt_manager'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		report_result_error("could not look up the extension", res);
		exit(1);
	}
	if (PQntuples(res) != 1)
	{
		pm_error("the extension prompt_manager is not installed in database \"%s\"", PQdb(conn));
		fprintf(stderr, "HINT:  Run CREATE EXTENSION prompt_manager in that database first, or connect to another one with -d.\n");
		exit(1);
	}
	schema = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return schema;
}

/* ---------------------------------------------------------------- import */

/* The entry for id, created (empty) when there is none yet. */
static ImportEntry *
entry_for(ImportState *st, const char *id)
{
	for (int i = st->nentries - 1; i >= 0; i--)
		if (strcmp(st->entries[i].id, id) == 0)
			return &st->entries[i];
	if (st->nentries == st->maxentries)
	{
		st->maxentries = st->maxentries ? st->maxentries * 2 : 64;
		st->entries = xrealloc(st->entries, st->maxentries * sizeof(ImportEntry));
	}
	memset(&st->entries[st->nentries], 0, sizeof(ImportEntry));
	st->entries[st->nentries].id = xstrdup(id);
	return &st->entries[st->nentries++];
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
cmp_entries(const void *a, const void *b)
{
	return strcmp(((const ImportEntry *) a)->id, ((const ImportEntry *) b)->id);
}

/*
 * Walk dir (path "root/rel") recursively, in byte order of the names, and
 * note every ID.txt and ID.json.  Like the gem's glob, names starting with
 * "." are skipped; symbolic links to files are followed, to directories not
 * (no loops).  Other files are ignored.
 */
static bool
walk_dir(ImportState *st, const char *root, const char *rel)
{
	char	   *dirpath = rel[0] ? concat3(root, "/", rel) : xstrdup(root);
	DIR		   *d = opendir(dirpath);
	struct dirent *de;
	char	  **names = NULL;
	int			nnames = 0,
				maxnames = 0;
	bool		ok = true;

	if (d == NULL)
	{
		pm_error("could not open directory \"%s\": %s", dirpath, strerror(errno));
		free(dirpath);
		return false;
	}
	while ((errno = 0, de = readdir(d)) != NULL)
	{
		if (de->d_name[0] == '.')
			continue;
		if (nnames == maxnames)
		{
			maxnames = maxnames ? maxnames * 2 : 32;
			names = xrealloc(names, maxnames * sizeof(char *));
		}
		names[nnames++] = xstrdup(de->d_name);
	}
	if (errno != 0)
	{
		pm_error("could not read directory \"%s\": %s", dirpath, strerror(errno));
		ok = false;
	}
	closedir(d);
	qsort(names, nnames, sizeof(char *), cmp_names);

	for (int i = 0; i < nnames && ok; i++)
	{
		char	   *relpath = rel[0] ? concat3(rel, "/", names[i]) : xstrdup(names[i]);
		char	   *path = concat3(root, "/", relpath);
		struct stat lst,
					stt;
		size_t		n = strlen(relpath);

		if (lstat(path, &lst) != 0)
		{
			pm_error("could not stat \"%s\": %s", path, strerror(errno));
			ok = false;
		}
		else if (stat(path, &stt) != 0)
			pm_warning("skipping \"%s\": %s", path, strerror(errno));	/* a broken link */
		else if (S_ISDIR(lst.st_mode))
			ok = walk_dir(st, root, relpath);
		else if (S_ISDIR(stt.st_mode))
			pm_warning("skipping \"%s\": a symbolic link to a directory", path);
		else if (S_ISREG(stt.st_mode) && (ends_with(relpath, n, ".txt") || ends_with(relpath, n, ".json")))
		{
			bool		txt = ends_with(relpath, n, ".txt");
			char	   *id = xstrndup(relpath, n - (txt ? 4 : 5));
			ImportEntry *e = entry_for(st, id);

			if (txt)
				e->txt_path = xstrdup(path);
			else
				e->json_path = xstrdup(path);
			free(id);
		}
		free(relpath);
		free(path);
	}
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(dirpath);
	return ok;
}

/* Remember an include rewritten to id, found at file:line. */
static void
add_ref(ImportState *st, const char *file, int line, const char *id)
{
	if (st->nrefs == st->maxrefs)
	{
		st->maxrefs = st->maxrefs ? st->maxrefs * 2 : 32;
		st->refs = xrealloc(st->refs, st->maxrefs * sizeof(IncludeRef));
	}
	st->refs[st->nrefs].file = xstrdup(file);
	st->refs[st->nrefs].line = line;
	st->refs[st->nrefs].id = xstrdup(id);
	st->nrefs++;
}

/*
 * The prompt id an include path of the gem names, or NULL when it names
 * none.  The gem reads PATH relative to the application's working
 * directory: "./" and then the first --include-prefix that PATH starts
 * with are removed, then the ".txt" (PATH ends with it).
 */
static char *
include_path_to_id(const Options *opt, const char *path, size_t n)
{
	char	   *id;

	while (n >= 2 && path[0] == '.' && path[1] == '/')
	{
		path += 2;
		n -= 2;
		while (n > 0 && path[0] == '/')
		{
			path++;
			n--;
		}
	}
	for (int i = 0; i < opt->nprefixes; i++)
	{
		size_t		m = strlen(opt->prefixes[i]);

		if (n > m && memcmp(path, opt->prefixes[i], m) == 0)
		{
			path += m;
			n -= m;
			break;
		}
	}
	id = xstrndup(path, n - 4);
	if (!valid_prompt_id(id))
	{
		free(id);
		return NULL;
	}
	return id;
}

/*
 * Copy content to out, rewriting the includes that name gem files to ids.
 *
 * An include line is, as both the gem and prompt_manager find it, a line
 * whose text after leading whitespace starts with "//", whose first word
 * after the "//" is "include" or "import", followed by exactly one more
 * word, PATH.  When PATH ends in ".txt" and has no keyword ("[") in it, the
 * bytes of PATH alone are replaced by the id it names; everything else on
 * the line, and every other byte of the file, is copied as it is.  Include
 * lines that already name ids (no ".txt") are left as they are.  Nothing
 * is rewritten from the first "__END__" line on: the gem reads no
 * directive there.  False (with messages) when a PATH names no prompt id.
 */
static bool
rewrite_includes(ImportState *st, const Options *opt, const char *file,
				 const char *content, size_t len, Buf *out)
{
	size_t		pos = 0;
	int			lineno = 0;
	bool		ok = true;

	buf_append(out, "", 0);
	while (pos < len)
	{
		const char *line = content + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t		linelen = nl ? (size_t) (nl - line) : len - pos;
		size_t		textlen = linelen;
		size_t		i = 0,
					ws,
					we,
					ps,
					pe;

		lineno++;
		if (textlen > 0 && line[textlen - 1] == '\r')
			textlen--;
		if (textlen == 7 && memcmp(line, "__END__", 7) == 0)
		{
			buf_append(out, line, len - pos);
			break;
		}
		pos += linelen + (nl ? 1 : 0);

		/* "//", the directive's name, then its arguments */
		while (i < linelen && is_ws(line[i]))
			i++;
		if (!(i + 1 < linelen && line[i] == '/' && line[i + 1] == '/'))
			goto copy;
		i += 2;
		while (i < linelen && is_ws(line[i]))
			i++;
		ws = i;
		while (i < linelen && !is_ws(line[i]))
			i++;
		we = i;
		if (!((we - ws == 7 && memcmp(line + ws, "include", 7) == 0) ||
			  (we - ws == 6 && memcmp(line + ws, "import", 6) == 0)))
			goto copy;
		while (i < linelen && is_ws(line[i]))
			i++;
		ps = i;
		while (i < linelen && !is_ws(line[i]))
			i++;
		pe = i;
		while (i < linelen && is_ws(line[i]))
			i++;
		if (pe == ps || i < linelen || !ends_with(line + ps, pe - ps, ".txt"))
			goto copy;			/* no path, several words, or already an id */
		if (memchr(line + ps, '[', pe - ps) != NULL)
		{
			pm_warning("%s:%d: include \"%.*s\" has a keyword in it, left as written: "
					   "it must expand to a prompt id when rendered",
					   file, lineno, (int) (pe - ps), line + ps);
			goto copy;
		}
		{
			char	   *id = include_path_to_id(opt, line + ps, pe - ps);

			if (id == NULL)
			{
				pm_error("%s:%d: include \"%.*s\" names no prompt id", file, lineno,
						 (int) (pe - ps), line + ps);
				fprintf(stderr, "HINT:  Includes are read relative to the application's working directory; "
						"give the path of the prompts directory from there with --include-prefix.\n");
				ok = false;
				st->errors++;
				goto copy;
			}
			buf_append(out, line, ps);
			buf_puts(out, id);
			buf_append(out, line + pe, linelen - pe);
			if (nl)
				buf_append(out, "\n", 1);
			add_ref(st, file, lineno, id);
			free(id);
			continue;
		}
copy:
		buf_append(out, line, linelen + (nl ? 1 : 0));
	}
	return ok;
}

/* Is id one of the prompts being imported? */
static bool
importing(const ImportState *st, const char *id)
{
	for (int i = 0; i < st->nentries; i++)
		if (st->entries[i].txt_path && strcmp(st->entries[i].id, id) == 0)
			return true;
	return false;
}

/*
 * import: read DIR, then create or update every prompt in one transaction
 * (a dry run only compares, read-only).  Returns the exit status.
 */
static int
do_import(const Options *opt, const char *dir)
{
	ImportState st = {0};
	struct stat sb;
	PGconn	   *conn;
	char	   *schema;
	char	   *classify_sql,
			   *upsert_sql,
			   *exists_sql;
	int			created = 0,
				updated = 0,
				unchanged = 0;
	int			nprompts = 0;
	size_t		dirlen = strlen(dir);
	char	   *root;

	/* "DIR/" and "DIR" are the same directory: names are joined with "/" */
	while (dirlen > 1 && dir[dirlen - 1] == '/')
		dirlen--;
	root = xstrndup(dir, dirlen);
	if (stat(root, &sb) != 0)
	{
		pm_error("could not read directory \"%s\": %s", dir, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(sb.st_mode))
	{
		pm_error("\"%s\" is not a directory", dir);
		return 1;
	}

	/* the files, their ids, their contents */
	if (!walk_dir(&st, root, ""))
		return 1;
	qsort(st.entries, st.nentries, sizeof(ImportEntry), cmp_entries);
	for (int i = 0; i < st.nentries; i++)
	{
		ImportEntry *e = &st.entries[i];
		size_t		len;
		char	   *text;
		Buf			out = {0};

		if (e->txt_path == NULL)
		{
			pm_warning("skipping \"%s\": there is no \"%s.txt\" beside it", e->json_path, e->id);
			continue;
		}
		if (!valid_prompt_id(e->id))
		{
			pm_error("\"%s\": \"%s\" is not a valid prompt id", e->txt_path, e->id);
			fprintf(stderr, "DETAIL:  A prompt id is 1 to 255 ASCII letters, digits, \"_\", \"-\" and \"/\", and does not start with \"/\".\n"
					"HINT:  Rename the file (and its .json), and the includes that name it.\n");
			st.errors++;
			continue;
		}
		nprompts++;
		if ((text = read_file(e->txt_path, &len)) == NULL)
		{
			st.errors++;
			continue;
		}
		if (!rewrite_includes(&st, opt, e->txt_path, text, len, &out))
			continue;
		e->content = out.data;
		free(text);
		if (e->json_path)
		{
			if ((e->params = read_file(e->json_path, &len)) == NULL)
				st.errors++;
		}
		else
			e->params = xstrdup("{}");
	}
	if (st.errors > 0)
	{
		pm_error("nothing imported: %d error%s in \"%s\"", st.errors, st.errors == 1 ? "" : "s", dir);
		return 1;
	}

	conn = connect_db(opt);
	schema = extension_schema(conn);
	/*
	 * Byte-exact comparisons: COLLATE "C" compares text byte by byte
	 * whatever the column's collation, and jsonb's text shows every byte a
	 * render reads (1.0 and 1.00 differ).  NULL: the prompt does not exist.
	 */
	classify_sql = concat3("SELECT (SELECT p.content COLLATE \"C\" IS DISTINCT FROM $2::text COLLATE \"C\" "
						   "OR p.parameters::text IS DISTINCT FROM $3::jsonb::text FROM ", schema,
						   opt->dry_run ? ".pm_prompts p WHERE p.prompt_id = $1)"
						   : ".pm_prompts p WHERE p.prompt_id = $1 FOR UPDATE)");
	upsert_sql = concat3("INSERT INTO ", schema,
						 ".pm_prompts AS p (prompt_id, content, parameters) VALUES ($1, $2, $3::jsonb) "
						 "ON CONFLICT (prompt_id) DO UPDATE "
						 "SET content = EXCLUDED.content, parameters = EXCLUDED.parameters "
						 "WHERE p.content COLLATE \"C\" IS DISTINCT FROM EXCLUDED.content COLLATE \"C\" "
						 "OR p.parameters::text IS DISTINCT FROM EXCLUDED.parameters::text");
	exists_sql = concat3("SELECT 1 FROM ", schema, ".pm_prompts WHERE prompt_id = $1");

	if (!exec_command(conn, opt->dry_run ? "BEGIN READ ONLY" : "BEGIN"))
		goto fail;
	for (int i = 0; i < st.nentries; i++)
	{
		ImportEntry *e = &st.entries[i];
		const char *values[3] = {e->id, e->content, e->params};
		PGresult   *res;
		const char *action;

		if (e->txt_path == NULL)
			continue;
		/* the parameters: valid JSON, an object */
		if (e->json_path)
		{
			res = PQexecParams(conn, "SELECT pg_catalog.jsonb_typeof($1::jsonb)", 1, NULL,
							   &values[2], NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				report_result_error(e->json_path, res);
				PQclear(res);
				goto fail;
			}
			if (strcmp(PQgetvalue(res, 0, 0), "object") != 0)
			{
				pm_error("%s: the parameters must be a JSON object, not %s %s", e->json_path,
						 strcmp(PQgetvalue(res, 0, 0), "array") == 0 ? "an" : "a", PQgetvalue(res, 0, 0));
				fprintf(stderr, "HINT:  The gem writes {\"[KEYWORD]\": [\"older value\", \"newest value\"]}.\n");
				PQclear(res);
				goto fail;
			}
			PQclear(res);
		}
		res = PQexecParams(conn, classify_sql, 3, NULL, values, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			report_result_error(e->txt_path, res);
			PQclear(res);
			goto fail;
		}
		if (PQgetisnull(res, 0, 0))
		{
			action = "create";
			created++;
		}
		else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		{
			action = "update";
			updated++;
		}
		else
		{
			action = "unchanged";
			unchanged++;
		}
		PQclear(res);
		if (opt->dry_run || opt->verbose)
			printf("%s %s\n", action, e->id);
		if (opt->dry_run || strcmp(action, "unchanged") == 0)
			continue;
		res = PQexecParams(conn, upsert_sql, 3, NULL, values, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			report_result_error(e->txt_path, res);
			PQclear(res);
			goto fail;
		}
		PQclear(res);
	}

	/* includes of prompts that are neither imported nor in the table */
	for (int i = 0; i < st.nrefs; i++)
	{
		const char *values[1] = {st.refs[i].id};
		PGresult   *res;

		if (importing(&st, st.refs[i].id))
			continue;
		res = PQexecParams(conn, exists_sql, 1, NULL, values, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			report_result_error("checking includes", res);
			PQclear(res);
			goto fail;
		}
		if (PQntuples(res) == 0)
			pm_warning("%s:%d: includes \"%s\", which is neither in \"%s\" nor in %s.pm_prompts",
					   st.refs[i].file, st.refs[i].line, st.refs[i].id, dir, schema);
		PQclear(res);
	}

	if (!exec_command(conn, opt->dry_run ? "ROLLBACK" : "COMMIT"))
		goto fail;
	if (opt->dry_run)
		printf("dry run: would create %d, update %d, leave %d unchanged (nothing written)\n",
			   created, updated, unchanged);
	else
		printf("created %d, updated %d, unchanged %d\n", created, updated, unchanged);
	PQfinish(conn);
	return 0;

fail:
	pm_error("nothing imported: the transaction was rolled back");
	PQfinish(conn);
	return 1;
}

/* ---------------------------------------------------------------- export */

/* mkdir -p of the directories above path (path's last part is a file). */
static bool
make_parents(const char *path)
{
	char	   *p = xstrdup(path);

	for (char *s = p + 1; *s; s++)
	{
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0777) != 0 && errno != EEXIST)
		{
			pm_error("could not create directory \"%s\": %s", p, strerror(errno));
			free(p);
			return false;
		}
		*s = '/';
	}
	free(p);
	return true;
}

/* Write n bytes to path, replacing it only with force. */
static bool
write_file(const char *path, const char *data, size_t n, bool force)
{
	int			fd = open(path, O_WRONLY | O_CREAT | (force ? O_TRUNC : O_EXCL), 0666);
	size_t		done = 0;

	if (fd < 0)
	{
		pm_error("could not create \"%s\": %s", path, strerror(errno));
		return false;
	}
	while (done < n)
	{
		ssize_t		w = write(fd, data + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
		{
			pm_error("could not write \"%s\": %s", path, strerror(errno));
			close(fd);
			return false;
		}
		done += w;
	}
	if (close(fd) != 0)
	{
		pm_error("could not write \"%s\": %s", path, strerror(errno));
		return false;
	}
	return true;
}

/* Can id be a file path under DIR that import reads back as id? */
static bool
exportable_id(const char *id)
{
	size_t		n = strlen(id);

	return valid_prompt_id(id) && id[n - 1] != '/' && strstr(id, "//") == NULL;
}

/*
 * export: every prompt to DIR/ID.txt (its content's bytes) and, when its
 * parameters are not {}, DIR/ID.json (jsonb's text of them).  Existing
 * files are an error, before anything is written, unless --force; with
 * --force a DIR/ID.json left from before is removed when the prompt has no
 * parameters now (import would read it back).  Returns the exit status.
 */
static int
do_export(const Options *opt, const char *dir)
{
	PGconn	   *conn = connect_db(opt);
	char	   *schema = extension_schema(conn);
	char	   *sql;
	PGresult   *res;
	int			n,
				nexisting = 0,
				nbad = 0,
				njson = 0;
	size_t		dirlen = strlen(dir);
	char	   *root;

	while (dirlen > 1 && dir[dirlen - 1] == '/')
		dirlen--;
	root = xstrndup(dir, dirlen);

	sql = concat3("SELECT prompt_id, content, parameters::text, parameters = '{}'::jsonb FROM ", schema,
				  ".pm_prompts ORDER BY prompt_id COLLATE \"C\"");
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		report_result_error("could not read the prompts", res);
		PQfinish(conn);
		return 1;
	}
	PQfinish(conn);
	n = PQntuples(res);

	/* check everything before writing anything */
	for (int i = 0; i < n; i++)
	{
		const char *id = PQgetvalue(res, i, 0);
		bool		noparams = strcmp(PQgetvalue(res, i, 3), "t") == 0;
		char	   *base,
				   *txt,
				   *json;
		struct stat sb;

		if (!exportable_id(id))
		{
			pm_error("prompt \"%s\" cannot be written as a file: its id has an empty path component", id);
			nbad++;
			continue;
		}
		base = concat3(root, "/", id);
		txt = concat3(base, ".txt", "");
		json = concat3(base, ".json", "");
		free(base);
		if (!opt->force)
		{
			if (lstat(txt, &sb) == 0)
			{
				if (nexisting++ < 5)
					pm_error("\"%s\" exists", txt);
			}
			if (!noparams && lstat(json, &sb) == 0)
			{
				if (nexisting++ < 5)
					pm_error("\"%s\" exists", json);
			}
		}
		free(txt);
		free(json);
	}
	if (nbad > 0)
	{
		fprintf(stderr, "HINT:  Rename those prompts (UPDATE ... SET prompt_id) to export them.\n");
		pm_error("nothing exported");
		return 1;
	}
	if (nexisting > 0)
	{
		pm_error("nothing exported: %d file%s would be overwritten%s", nexisting,
				 nexisting == 1 ? "" : "s", nexisting > 5 ? " (the first 5 are shown)" : "");
		fprintf(stderr, "HINT:  Export into a new directory, or give --force to overwrite.\n");
		return 1;
	}

	if (mkdir(root, 0777) != 0 && errno != EEXIST)
	{
		pm_error("could not create directory \"%s\": %s", root, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++)
	{
		const char *id = PQgetvalue(res, i, 0);
		bool		noparams = strcmp(PQgetvalue(res, i, 3), "t") == 0;
		char	   *base = concat3(root, "/", id);
		char	   *txt = concat3(base, ".txt", "");
		char	   *json = concat3(base, ".json", "");
		bool		ok;

		ok = make_parents(txt) &&
			write_file(txt, PQgetvalue(res, i, 1), PQgetlength(res, i, 1), opt->force);
		if (ok && !noparams)
		{
			char	   *params = concat3(PQgetvalue(res, i, 2), "\n", "");

			ok = write_file(json, params, strlen(params), opt->force);
			free(params);
			njson++;
		}
		else if (ok && opt->force && unlink(json) != 0 && errno != ENOENT)
		{
			pm_error("could not remove \"%s\": %s", json, strerror(errno));
			ok = false;
		}
		if (ok && opt->verbose)
			printf("wrote %s\n", id);
		free(base);
		free(txt);
		free(json);
		if (!ok)
			return 1;
	}
	printf("exported %d prompt%s to \"%s\" (%d with a .json parameters file)\n",
		   n, n == 1 ? "" : "s", dir, njson);
	PQclear(res);
	return 0;
}

/* ---------------------------------------------------------------- main */

static void
usage(FILE *f)
{
	fprintf(f,
			"%s copies prompts between a PromptManager gem prompts_dir and the table\n"
			"pm_prompts of the prompt_manager extension.\n"
			"\n"
			"Usage:\n"
			"  %s import [OPTION]... DIR   create or update the prompts of DIR\n"
			"  %s export [OPTION]... DIR   write every prompt to DIR\n"
			"\n"
			"DIR holds ID.txt (the template) and ID.json (its parameters, a JSON object),\n"
			"in subdirectories for ids with slashes: DIR/team/reply.txt is \"team/reply\".\n"
			"\n"
			"Import reads every file byte for byte, in one transaction, and writes only the\n"
			"prompts whose content or parameters differ; it prints\n"
			"\"created N, updated M, unchanged K\".  Include lines written as the gem writes\n"
			"them, \"//include common/footer.txt\" or \"//import ./x.txt\", become includes\n"
			"of ids (\"//include common/footer\"); includes that already name ids, or have\n"
			"keywords in them, stay as they are.  Prompts of the table that are not in DIR\n"
			"are left alone.\n"
			"\n"
			"Export writes DIR/ID.txt for every prompt, and DIR/ID.json when its parameters\n"
			"are not {}; includes stay ids.  It refuses to overwrite files unless --force.\n"
			"\n"
			"Options:\n"
			"  -n, --dry-run               import: print \"create ID\", \"update ID\" or\n"
			"                              \"unchanged ID\" for each prompt, write nothing\n"
			"      --include-prefix=DIR    import: the path of the prompts directory from\n"
			"                              the application's working directory, removed\n"
			"                              from include paths (e.g. prompts/); repeatable\n"
			"  -f, --force                 export: overwrite existing files\n"
			"  -v, --verbose               print each prompt's action\n"
			"      --help                  show this help, then exit\n"
			"      --version               show the version, then exit\n"
			"\n"
			"Connection options (libpq's environment variables PGHOST, PGPORT, PGUSER,\n"
			"PGDATABASE, PGPASSWORD, PGSERVICE, ... work as well):\n"
			"  -h, --host=HOST             database server host or socket directory\n"
			"  -p, --port=PORT             database server port\n"
			"  -U, --username=USER         database user name\n"
			"  -d, --dbname=DBNAME         database name, or a connection string or URI\n"
			"\n"
			"Files are read and written as UTF-8 (PGCLIENTENCODING chooses another\n"
			"encoding).  Exit status: 0 on success, 1 on any error (nothing is written).\n",
			progname, progname, progname);
}

int
main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'U'},
		{"dbname", required_argument, NULL, 'd'},
		{"dry-run", no_argument, NULL, 'n'},
		{"force", no_argument, NULL, 'f'},
		{"verbose", no_argument, NULL, 'v'},
		{"include-prefix", required_argument, NULL, 1},
		{"help", no_argument, NULL, 2},
		{"version", no_argument, NULL, 3},
		{NULL, 0, NULL, 0}
	};
	Options		opt = {0};
	const char *command;
	int			c;

	opt.prefixes = xmalloc(argc * sizeof(char *));
	/* "import --help" as well as "--help" */
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-?") == 0)
		{
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0)
		{
			printf("%s (prompt_manager) %s\n", progname, PM_CLI_VERSION);
			return 0;
		}
	}
	if (argc < 2 || argv[1][0] == '-')
	{
		pm_error("no command given: import or export");
		fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
		return 1;
	}
	command = argv[1];
	argv++;
	argc--;
	while ((c = getopt_long(argc, argv, "h:p:U:d:nfv", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'h':
				opt.host = optarg;
				break;
			case 'p':
				opt.port = optarg;
				break;
			case 'U':
				opt.user = optarg;
				break;
			case 'd':
				opt.dbname = optarg;
				break;
			case 'n':
				opt.dry_run = true;
				break;
			case 'f':
				opt.force = true;
				break;
			case 'v':
				opt.verbose = true;
				break;
			case 1:
				{
					size_t		n = strlen(optarg);

					while (n >= 2 && optarg[0] == '.' && optarg[1] == '/')
					{
						optarg += 2;
						n -= 2;
					}
					while (n > 1 && optarg[n - 1] == '/')
						n--;
					if (n == 0 || strcmp(optarg, ".") == 0)
						break;	/* the working directory itself: nothing to remove */
					opt.prefixes[opt.nprefixes++] =
						concat3(xstrndup(optarg, n), optarg[n - 1] == '/' ? "" : "/", "");
					break;
				}
			default:
				fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
				return 1;
		}
	}
	if (optind != argc - 1)
	{
		pm_error(optind >= argc ? "%s: no directory given" : "%s: too many arguments", command);
		fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
		return 1;
	}
	if (strcmp(command, "import") == 0)
	{
		if (opt.force)
		{
			pm_error("import: --force is an option of export");
			return 1;
		}
		return do_import(&opt, argv[optind]);
	}
	if (strcmp(command, "export") == 0)
	{
		if (opt.dry_run || opt.nprefixes > 0)
		{
			pm_error("export: --dry-run and --include-prefix are options of import");
			return 1;
		}
		return do_export(&opt, argv[optind]);
	}
	pm_error("unknown command \"%s\": import or export", command);
	fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
	return 1;
}
