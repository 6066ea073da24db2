#include <git2.h>
#include <git2/sys/midx.h>

/* git_libgit2_opts is variadic and cannot be called from Swift: one fixed-argument wrapper.
   A folder's history must not depend on the user's git configuration (nor fail when $HOME is
   unreadable), so the system, global and XDG configuration search paths are emptied. */
static inline int sync_git_isolate_configuration(void) {
    int rc = 0;
    rc |= git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_SYSTEM, "");
    rc |= git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, "");
    rc |= git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, "");
    rc |= git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_PROGRAMDATA, "");
    return rc;
}

/* How much of pack files libgit2 maps at once, and in windows of what size (its defaults, 8 GiB
   in windows of 1 GiB, let every page of a large pack read once stay mapped, counted in the
   process's resident memory). */
static inline int sync_git_limit_mapped(size_t window, size_t limit) {
    int rc = 0;
    rc |= git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, window);
    rc |= git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, limit);
    return rc;
}

/* Whether libgit2 fsyncs what it writes into a repository (loose objects, packs it indexes, refs)
   and the directories it renames them into before it reports success. */
static inline int sync_git_fsync_gitdir(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, enabled);
}
