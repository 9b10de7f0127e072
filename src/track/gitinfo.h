/* gitinfo.h - the commit at the head of the git checkout around the
 * working directory. */
#ifndef SHARDLEARN_TRACK_GITINFO_H
#define SHARDLEARN_TRACK_GITINFO_H

#include <stddef.h>

/* out <- the commit (40 hex digits, or what HEAD names) of the checkout
 * containing the working directory: a plain .git directory, or a .git file
 * naming the gitdir (a linked worktree or a submodule), with the branch in
 * a loose ref or packed-refs. 1 when found, else 0 (not a checkout). */
int sl_git_commit(char *out, size_t cap);

#endif
