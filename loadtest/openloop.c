/* An open-loop load generator: one request at a fixed rate, latency from the schedule.
 *
 *     openloop PORT RATE SECONDS WARMUP CONNECTIONS REQUEST_FILE
 *
 * Prints one JSON object: target and achieved rate, p50/p99/p99.9/max latency
 * in ms. loadtest/openloop.py builds it, reads the request from a wrk script
 * and runs it; see there for why open loop and why it spins.
 *
 * Request i is due at start + i/rate whatever happened before. It goes out on
 * connection i % CONNECTIONS even if earlier answers on that connection are
 * outstanding (HTTP/1.1 pipelining), and its latency runs from its due time,
 * so a late send counts against the result, never for it. The loop never
 * sleeps: it queues what is due, sends, reads what arrived (epoll without a
 * timeout) and goes round again. Answers are framed by their head and
 * Content-Length (the tracker's and the bare server's always have one).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE 262144

typedef struct {
    int fd;
    char *out;              /* requests not yet sent */
    size_t out_len, out_cap;
    double *due;            /* due times of the requests sent and not answered, a ring */
    size_t due_head, due_len, due_cap;
    char *in;               /* bytes of answers not yet complete */
    size_t in_len, in_cap;
} Conn;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *grow(void *p, size_t *cap, size_t need, size_t item) {
    if (need <= *cap) return p;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    p = realloc(p, cap2 * item);
    if (!p) { perror("realloc"); exit(2); }
    *cap = cap2;
    return p;
}

static void queue(Conn *c, const char *req, size_t len, double due) {
    c->out = grow(c->out, &c->out_cap, c->out_len + len, 1);
    memcpy(c->out + c->out_len, req, len);
    c->out_len += len;
    if (c->due_len == c->due_cap) {  /* grow the ring, unrolled to start at 0 */
        size_t old = c->due_cap, cap2 = old ? old * 2 : 64;
        double *d = malloc(cap2 * sizeof(double));
        if (!d) { perror("malloc"); exit(2); }
        for (size_t k = 0; k < c->due_len; k++) d[k] = c->due[(c->due_head + k) % old];
        free(c->due);
        c->due = d; c->due_head = 0; c->due_cap = cap2;
    }
    c->due[(c->due_head + c->due_len) % c->due_cap] = due;
    c->due_len++;
}

static void flush(Conn *c) {
    if (!c->out_len) return;
    ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN) return;
        perror("send"); exit(2);
    }
    memmove(c->out, c->out + n, c->out_len - n);
    c->out_len -= n;
}

/* Length of the complete answer at the start of buf (head and body), 0 if not
 * complete yet, -1 if it is not an HTTP answer with a Content-Length or no body. */
static long answer_length(const char *buf, size_t len, int *status) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = end - buf + 4;
    if (head < 12 || memcmp(buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(buf + 9);
    long body = 0;
    for (const char *p = buf; p < end; ) {
        const char *eol = memmem(p, end - p + 2, "\r\n", 2);
        if (eol - p > 15 && strncasecmp(p, "content-length:", 15) == 0) body = atol(p + 15);
        p = eol + 2;
    }
    if (*status == 204 || *status == 304) body = 0;
    return head + body <= len ? (long)(head + body) : 0;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: openloop PORT RATE SECONDS WARMUP CONNECTIONS REQUEST_FILE\n");
        return 2;
    }
    int port = atoi(argv[1]), conns_n = atoi(argv[5]);
    double rate = atof(argv[2]), seconds = atof(argv[3]), warmup = atof(argv[4]);
    FILE *f = fopen(argv[6], "rb");
    if (!f) { perror("request file"); return 2; }
    static char request[65536];
    size_t req_len = fread(request, 1, sizeof request, f);
    fclose(f);

    Conn *conns = calloc(conns_n, sizeof(Conn));
    int ep = epoll_create1(0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    for (int i = 0; i < conns_n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
            perror("connect"); return 2;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) { perror("fcntl"); return 2; }
        conns[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }

    long total = (long)(seconds * rate), sent = 0, answered = 0, non_2xx = 0, measured = 0;
    double *latencies = malloc(sizeof(double) * (total + 1));
    double interval = 1.0 / rate, max_send_delay = 0.0;
    double start = now_s() + 0.01, window_start = start + warmup, window_end = start + seconds;
    double give_up = start + seconds + 5.0;
    char *readbuf = malloc(READ_SIZE);
    struct epoll_event events[256];
    int *waiting = malloc(sizeof(int) * conns_n), waiting_n = 0;

    while (answered < total) {
        double now = now_s();
        if (now > give_up) break;
        long due_now = now >= start ? (long)((now - start) * rate) + 1 : 0;
        if (due_now > total) due_now = total;
        if (due_now > sent) {
            if (sent > 0 && now - (start + sent * interval) > max_send_delay)
                max_send_delay = now - (start + sent * interval);
            for (long i = sent; i < due_now; i++) {
                Conn *c = &conns[i % conns_n];
                if (!c->out_len) waiting[waiting_n++] = (int)(i % conns_n);
                queue(c, request, req_len, start + i * interval);
            }
            sent = due_now;
        }
        int still = 0;
        for (int k = 0; k < waiting_n; k++) {
            flush(&conns[waiting[k]]);
            if (conns[waiting[k]].out_len) waiting[still++] = waiting[k];
        }
        waiting_n = still;
        int ready = epoll_wait(ep, events, 256, 0);
        for (int k = 0; k < ready; k++) {
            Conn *c = &conns[events[k].data.u32];
            ssize_t n = recv(c->fd, readbuf, READ_SIZE, 0);
            if (n == 0) { fprintf(stderr, "the server closed a connection\n"); return 2; }
            if (n < 0) { if (errno == EAGAIN) continue; perror("recv"); return 2; }
            double received_at = now_s();
            c->in = grow(c->in, &c->in_cap, c->in_len + n, 1);
            memcpy(c->in + c->in_len, readbuf, n);
            c->in_len += n;
            size_t pos = 0;
            for (;;) {
                int status = 0;
                long len = answer_length(c->in + pos, c->in_len - pos, &status);
                if (len < 0) { fprintf(stderr, "not an HTTP answer\n"); return 2; }
                if (len == 0) break;
                pos += len;
                if (!c->due_len) { fprintf(stderr, "an answer nobody asked for\n"); return 2; }
                double due = c->due[c->due_head];
                c->due_head = (c->due_head + 1) % c->due_cap;
                c->due_len--;
                answered++;
                if (status < 200 || status >= 300) non_2xx++;
                if (due >= window_start && due < window_end) latencies[measured++] = received_at - due;
            }
            memmove(c->in, c->in + pos, c->in_len - pos);
            c->in_len -= pos;
        }
    }
    for (int i = 0; i < conns_n; i++) close(conns[i].fd);
    qsort(latencies, measured, sizeof(double), compare);
    double window = seconds - warmup;
#define PCT(q) (measured ? latencies[(long)((q) * measured) < measured ? (long)((q) * measured) : measured - 1] * 1000 : -1.0)
    printf("{\"target_per_s\": %ld, \"achieved_per_s\": %ld, \"connections\": %d, "
           "\"seconds\": %g, \"warmup_seconds\": %g, \"sent\": %ld, \"answered\": %ld, "
           "\"unanswered\": %ld, \"non_2xx\": %ld, \"measured\": %ld, \"p50_ms\": %.3f, "
           "\"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f, \"max_send_delay_ms\": %.3f}\n",
           (long)(rate + 0.5), (long)(measured / window + 0.5), conns_n, seconds, warmup, sent,
           answered, sent - answered, non_2xx, measured, PCT(0.50), PCT(0.99), PCT(0.999),
           measured ? latencies[measured - 1] * 1000 : -1.0, max_send_delay * 1000);
    return sent == answered ? 0 : 1;
}
