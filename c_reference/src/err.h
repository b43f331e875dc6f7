/* Fatal errors: one line on stderr, temporary output files removed, exit 2. */
#ifndef NB_ERR_H
#define NB_ERR_H

#if defined(__GNUC__)
#define NB_NORETURN __attribute__((noreturn))
#define NB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NB_NORETURN
#define NB_PRINTF(a, b)
#endif

#define NB_EXIT_USAGE 2
#define NB_EXIT_IO 3

void nb_die(const char *fmt, ...) NB_NORETURN NB_PRINTF(1, 2);
void nb_die_code(int code, const char *fmt, ...) NB_NORETURN NB_PRINTF(2, 3);
void nb_warn(const char *fmt, ...) NB_PRINTF(1, 2);

/* temporary files that must not survive a failure */
void nb_temp_register(const char *path);
void nb_temp_forget(const char *path);
void nb_temp_cleanup(void);

void *nb_calloc(size_t n, size_t size);

#endif
