/* gitinfo.c - the commit a run was started from (the tag
 * mlflow.source.git.commit, as MLflow's client sets it), read from the
 * files of the git checkout that contains the working directory: no git
 * process, no library. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "track/gitinfo.h"

/* out <- the first line of path, without its line end; 0 if none. */
static int first_line(const char *path, char *out, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (ok) out[strcspn(out, "\r\n")] = '\0';
    return ok && out[0] != '\0';
}

/* out <- the sha of ref from common/packed-refs ("<sha> <ref>" lines). */
static int packed_ref(const char *common, const char *ref, char *out, size_t cap) {
    char path[PATH_MAX + 64], line[512];
    snprintf(path, sizeof path, "%s/packed-refs", common);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *sp = strchr(line, ' ');
        if (sp && strcmp(sp + 1, ref) == 0) {
            *sp = '\0';
            snprintf(out, cap, "%s", line);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* out <- the commit that gitdir/HEAD names. A linked worktree (git worktree
 * add) keeps HEAD in its own gitdir and the branches in the common one that
 * gitdir/commondir names. */
static int head_commit(const char *gitdir, char *out, size_t cap) {
    char path[2 * PATH_MAX + 64], line[512], common[PATH_MAX], rel[PATH_MAX];
    snprintf(path, sizeof path, "%s/HEAD", gitdir);
    if (!first_line(path, line, sizeof line)) return 0;
    if (strncmp(line, "ref: ", 5) != 0) {
        snprintf(out, cap, "%s", line);
        return 1;
    }
    snprintf(path, sizeof path, "%s/commondir", gitdir);
    if (!first_line(path, rel, sizeof rel))
        snprintf(common, sizeof common, "%s", gitdir);
    else if (rel[0] == '/')
        snprintf(common, sizeof common, "%s", rel);
    else
        snprintf(common, sizeof common, "%s/%s", gitdir, rel);
    snprintf(path, sizeof path, "%s/%s", gitdir, line + 5);
    if (first_line(path, out, cap)) return 1;
    snprintf(path, sizeof path, "%s/%s", common, line + 5);
    if (first_line(path, out, cap)) return 1;
    return packed_ref(common, line + 5, out, cap);
}

/* The git directory of dir: dir/.git itself, or the one a .git file names
 * ("gitdir: PATH", as in a linked worktree or a submodule). */
static int git_dir_of(const char *dir, char *out, size_t cap) {
    char path[PATH_MAX + 16], line[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/.git", dir);
    if (stat(path, &st) != 0) return 0;
    if (S_ISDIR(st.st_mode)) {
        snprintf(out, cap, "%s", path);
        return 1;
    }
    if (!first_line(path, line, sizeof line) || strncmp(line, "gitdir: ", 8) != 0) return 0;
    if (line[8] == '/')
        snprintf(out, cap, "%s", line + 8);
    else
        snprintf(out, cap, "%s/%s", dir, line + 8);
    return 1;
}

int sl_git_commit(char *out, size_t cap) {
    char dir[PATH_MAX], gitdir[2 * PATH_MAX];
    if (!getcwd(dir, sizeof dir)) return 0;
    for (;;) {
        if (git_dir_of(dir, gitdir, sizeof gitdir)) return head_commit(gitdir, out, cap);
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) return 0;
        *slash = '\0';
    }
}
