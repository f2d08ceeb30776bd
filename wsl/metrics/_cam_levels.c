/*
 * wsl.metrics._cam_levels: best IoU of a uint8 CAM's boxes with GT boxes at every cut level, in one pass.
 *
 * For every value v in 1..max(q) the foreground is {q >= v} (wsolevaluation's `q > level` with
 * v = the smallest value above the level). The boxes cv2.findContours(RETR_TREE) would give at that
 * foreground are, exactly (each fact is checked against OpenCV in tests/metrics/test_cam_levels.py):
 *
 *   - one per 8-connected foreground component S: bbox(S) = (x0, y0, x1, y1), box
 *     (x0, y0, min(x1 + 1, W - 1), min(y1 + 1, H - 1));
 *   - one per hole, a 4-connected background component that does not touch the image border:
 *     its contour runs on the foreground pixels around it, so the box is the hole's bbox grown by one,
 *     (hx0 - 1, hy0 - 1, min(hx1 + 2, W - 1), min(hy1 + 2, H - 1)).
 *
 * Single-contour mode keeps the contour of largest cv2.contourArea, first on ties in OpenCV's order.
 * The largest is always a component's outer border, and that polygon through pixel centres has area
 *
 *   contourArea = sum over 2x2 pixel windows of max(0, k - 2) / 2,   k = pixels of fill(S) in the window,
 *
 * with fill(S) = S plus everything it encloses. Of equal areas OpenCV lists last the component whose
 * first pixel (raster order) comes last, and max(..., key=contourArea) takes the first listed, so ties
 * go to the larger first-pixel index.
 *
 * Method: a union-find over pixels added in decreasing value (8-connectivity) keeps, per component,
 * the bbox, the first pixel, 2 * (window sum over S itself) and 4 * Euler number (Gray's bit-quad
 * counts), all updated from a table indexed by the new pixel's 8-neighbourhood. A component with
 * Euler number 1 has no hole, so fill(S) = S and its area is exact. For one with holes the window sum
 * over S is a lower bound and 2 * (bbox windows) an upper bound; the exact area of fill(S) (a flood
 * fill of its bbox) is computed only when the bounds cannot decide the winner, and cached until the
 * component changes. Holes (multi-contour mode) come from a second union-find over pixels added in
 * increasing value (4-connectivity). Both modes share the sort and the foreground union-find (and each
 * component's cached IoU): best_ious_per_value_both gives the two in one call. Per level, the best IoU is the max over live components of a
 * cached per-component IoU, recomputed only for components that changed. Unions are made with one
 * neighbour per group of already-connected neighbours (a table again).
 *
 * IoU counts pixels inclusively and is computed in double from int64 areas, as numpy does in
 * wsl.metrics.boxes._iou, so results are bit-identical.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Attributes of a component. */
typedef struct {
    int32_t root;           /* its root cell while it is alive */
    int32_t x0, y0, x1, y1; /* bbox, inclusive, image coordinates */
    int32_t first;          /* smallest raster index y * W + x */
    int32_t size;
    int32_t euler4;  /* 4 * Euler number (8-connected foreground, 4-connected background) */
    int32_t border;  /* background pass: touches the image border */
    int64_t area2;   /* sum over windows of max(0, k - 2), k = pixels of S in the window */
    int64_t filled2; /* the same over fill(S) = 2 * contourArea of the outer border; -1 = not known */
    double iou;      /* best IoU of the component's box with the GT boxes; < 0 = not known */
} Comp;

/* A union-find over the cells of the image padded by one cell on every side (padded index
 * P = (y + 1) * (W + 2) + x + 1). parent[P] is -1 for a cell not (yet) in the set (the padding is never
 * in it, so neighbours need no bounds checks), another cell for a non-root, and -(id + 2) for a root
 * whose component record is comps[id]. Records are allocated only for components, not for cells. */
typedef struct {
    int32_t *parent;
    Comp *comps;
    int32_t num_comps, capacity;
    int32_t *live; /* ids of the components that may still be alive (compacted while scoring) */
    int32_t num_live;
} Forest;

#define NOT_IN_SET (-1)

/* The 8 neighbours in ring order N, NE, E, SE, S, SW, W, NW, as (dx, dy). */
static const int RING_DX[8] = {0, 1, 1, 1, 0, -1, -1, -1};
static const int RING_DY[8] = {-1, -1, 0, 1, 1, 1, 0, -1};

/* For each 8-bit mask of neighbours already in the set: one neighbour per group of neighbours that are
 * already connected to each other (terminated by -1), for 8-connectivity (foreground) and for
 * 4-connectivity (background, only N/E/S/W are united). */
static int8_t REPS8[256][5], REPS4[256][5];
/* For each foreground neighbourhood mask: change of area2 and of euler4 when the centre is added. */
static int8_t DAREA2[256], DEULER4[256];

static int window_value_area2(int k) { return k > 2 ? k - 2 : 0; }

/* Gray's bit-quad weights (times 4) for 8-connectivity; bits tl, tr, bl, br. */
static int window_value_euler4(int tl, int tr, int bl, int br) {
    int k = tl + tr + bl + br;
    if (k == 1) return 1;
    if (k == 3) return -1;
    if (k == 2 && tl == br) return -2; /* the diagonal pairs */
    return 0;
}

static int ring_bit(int mask, int dx, int dy) {
    for (int i = 0; i < 8; i++)
        if (RING_DX[i] == dx && RING_DY[i] == dy) return (mask >> i) & 1;
    return 1; /* (0, 0): the new pixel */
}

static void build_tables(void) {
    for (int mask = 0; mask < 256; mask++) {
        /* groups among present neighbours; 8-connectivity: adjacent if Chebyshev distance is 1 */
        for (int conn = 8; conn >= 4; conn -= 4) {
            int group[8];
            for (int i = 0; i < 8; i++) group[i] = ((mask >> i) & 1) ? i : -1;
            int changed = 1;
            while (changed) {
                changed = 0;
                for (int i = 0; i < 8; i++) {
                    for (int j = 0; j < 8; j++) {
                        if (group[i] < 0 || group[j] < 0 || group[i] == group[j]) continue;
                        int adx = abs(RING_DX[i] - RING_DX[j]), ady = abs(RING_DY[i] - RING_DY[j]);
                        int adjacent = conn == 8 ? (adx <= 1 && ady <= 1) : (adx + ady == 1);
                        if (adjacent) {
                            int lo = group[i] < group[j] ? group[i] : group[j];
                            int hi = group[i] < group[j] ? group[j] : group[i];
                            for (int t = 0; t < 8; t++)
                                if (group[t] == hi) group[t] = lo;
                            changed = 1;
                        }
                    }
                }
            }
            int8_t *reps = conn == 8 ? REPS8[mask] : REPS4[mask];
            int n = 0;
            for (int i = 0; i < 8; i++) {
                int edge = RING_DX[i] == 0 || RING_DY[i] == 0;
                if (conn == 4 && !edge) continue; /* only 4-neighbours are united in the background */
                if (group[i] < 0) continue;
                int seen = 0;
                for (int t = 0; t < n; t++)
                    if (group[reps[t]] == group[i]) seen = 1;
                if (!seen) reps[n++] = (int8_t)i;
            }
            reps[n] = -1;
        }
        int darea = 0, deuler = 0;
        for (int wy = -1; wy <= 0; wy++) {
            for (int wx = -1; wx <= 0; wx++) {
                int tl = ring_bit(mask, wx, wy), tr = ring_bit(mask, wx + 1, wy);
                int bl = ring_bit(mask, wx, wy + 1), br = ring_bit(mask, wx + 1, wy + 1);
                int after_k = tl + tr + bl + br;
                int after_e = window_value_euler4(tl, tr, bl, br);
                /* the centre is the corner (-wx, -wy) of this window */
                if (wx == -1 && wy == -1) br = 0;
                if (wx == 0 && wy == -1) bl = 0;
                if (wx == -1 && wy == 0) tr = 0;
                if (wx == 0 && wy == 0) tl = 0;
                darea += window_value_area2(after_k) - window_value_area2(after_k - 1);
                deuler += after_e - window_value_euler4(tl, tr, bl, br);
            }
        }
        DAREA2[mask] = (int8_t)darea;
        DEULER4[mask] = (int8_t)deuler;
    }
}

static int forest_alloc(Forest *f, Py_ssize_t cells) {
    f->capacity = 256;
    f->num_comps = f->num_live = 0;
    f->parent = malloc(cells * sizeof(int32_t));
    f->comps = malloc(f->capacity * sizeof(Comp));
    f->live = malloc(f->capacity * sizeof(int32_t));
    if (f->parent) memset(f->parent, 0xff, cells * sizeof(int32_t)); /* all NOT_IN_SET */
    return f->parent && f->comps && f->live;
}

static void forest_free(Forest *f) {
    free(f->parent);
    free(f->comps);
    free(f->live);
}

static inline int32_t find_root(int32_t *parent, int32_t p) {
    int32_t up;
    while ((up = parent[p]) >= 0) {
        int32_t grand = parent[up];
        if (grand < 0) return up;
        parent[p] = grand; /* path halving */
        p = grand;
    }
    return p;
}

static inline int32_t comp_id(const int32_t *parent, int32_t root) { return -parent[root] - 2; }

static inline Comp *comp_of(Forest *f, int32_t root) { return &f->comps[comp_id(f->parent, root)]; }

/* The component with this id is alive (not merged into another). */
static inline int is_alive(const Forest *f, int32_t id) { return f->parent[f->comps[id].root] == -(id + 2); }

/* A new one-pixel component; returns 0 when out of memory. */
static int make_set(Forest *f, int32_t cell, int32_t x, int32_t y, int32_t index) {
    if (f->num_comps == f->capacity) {
        int32_t capacity = f->capacity * 2;
        Comp *comps = realloc(f->comps, capacity * sizeof(Comp));
        if (comps) f->comps = comps;
        int32_t *live = realloc(f->live, capacity * sizeof(int32_t));
        if (live) f->live = live;
        if (!comps || !live) return 0;
        f->capacity = capacity;
    }
    int32_t id = f->num_comps++;
    Comp *c = &f->comps[id];
    f->parent[cell] = -(id + 2);
    c->root = cell;
    c->x0 = c->x1 = x;
    c->y0 = c->y1 = y;
    c->first = index;
    c->size = 1;
    c->euler4 = 0;
    c->border = 0;
    c->area2 = 0;
    c->filled2 = -1;
    c->iou = -1.0;
    f->live[f->num_live++] = id;
    return 1;
}

/* Merge the components of a and b; returns the surviving root, whose cached values are cleared. */
static inline int32_t unite(Forest *f, int32_t a, int32_t b) {
    a = find_root(f->parent, a);
    b = find_root(f->parent, b);
    if (a == b) return a;
    Comp *ca = comp_of(f, a), *cb = comp_of(f, b);
    if (ca->size < cb->size) {
        int32_t t = a;
        a = b;
        b = t;
        Comp *tc = ca;
        ca = cb;
        cb = tc;
    }
    f->parent[b] = a;
    ca->size += cb->size;
    if (cb->x0 < ca->x0) ca->x0 = cb->x0;
    if (cb->y0 < ca->y0) ca->y0 = cb->y0;
    if (cb->x1 > ca->x1) ca->x1 = cb->x1;
    if (cb->y1 > ca->y1) ca->y1 = cb->y1;
    if (cb->first < ca->first) ca->first = cb->first;
    ca->area2 += cb->area2;
    ca->euler4 += cb->euler4;
    ca->border |= cb->border;
    ca->filled2 = -1;
    ca->iou = -1.0;
    return a;
}

/* Add the pixel at `cell` to the set and unite it with one neighbour per group in `reps` (offsets into
 * the padded grid); returns the root, or -1 when out of memory. A pixel with neighbours joins the first
 * group's root directly, so only a pixel that starts a new component gets a record. */
static inline int32_t add_pixel(Forest *f, int32_t cell, int32_t x, int32_t y, int32_t index,
                                const int8_t *reps, const int32_t offset[8]) {
    if (*reps < 0) return make_set(f, cell, x, y, index) ? cell : -1;
    int32_t root = find_root(f->parent, cell + offset[*reps]);
    f->parent[cell] = root;
    Comp *c = comp_of(f, root);
    c->size++;
    if (x < c->x0) c->x0 = x;
    if (y < c->y0) c->y0 = y;
    if (x > c->x1) c->x1 = x;
    if (y > c->y1) c->y1 = y;
    if (index < c->first) c->first = index;
    c->filled2 = -1;
    c->iou = -1.0;
    for (reps++; *reps >= 0; reps++) root = unite(f, root, cell + offset[*reps]);
    return root;
}

static double best_iou(int64_t x0, int64_t y0, int64_t x1, int64_t y1, const int64_t *gt, Py_ssize_t k) {
    double best = 0.0;
    int64_t area = (x1 - x0 + 1) * (y1 - y0 + 1);
    for (Py_ssize_t i = 0; i < k; i++) {
        const int64_t *g = gt + 4 * i;
        int64_t ix0 = x0 > g[0] ? x0 : g[0];
        int64_t iy0 = y0 > g[1] ? y0 : g[1];
        int64_t ix1 = x1 < g[2] ? x1 : g[2];
        int64_t iy1 = y1 < g[3] ? y1 : g[3];
        int64_t iw = ix1 - ix0 + 1, ih = iy1 - iy0 + 1;
        int64_t inter = (iw > 0 ? iw : 0) * (ih > 0 ? ih : 0);
        int64_t denom = area + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - inter;
        double iou = denom > 0 ? (double)inter / (double)denom : 0.0;
        if (iou > best) best = iou;
    }
    return best;
}

/* Best IoU of a foreground component's box (x0, y0, min(x1 + 1, W - 1), min(y1 + 1, H - 1)). */
static inline double component_iou(const Comp *c, int width, int height, const int64_t *gt, Py_ssize_t k) {
    int64_t x1 = c->x1 + 1 < width ? c->x1 + 1 : width - 1;
    int64_t y1 = c->y1 + 1 < height ? c->y1 + 1 : height - 1;
    return best_iou(c->x0, c->y0, x1, y1, gt, k);
}

/* A pixel in value order: its coordinates (no division in the passes). */
typedef struct {
    int32_t x, y;
} Pixel;

/* Counting sort of the pixels by value: order[start[v] .. start[v + 1]) hold the pixels of value v. */
static void sort_by_value(const uint8_t *q, int width, int height, Pixel *order, Py_ssize_t start[257]) {
    Py_ssize_t count[256] = {0};
    Py_ssize_t n = (Py_ssize_t)width * height;
    for (Py_ssize_t i = 0; i < n; i++) count[q[i]]++;
    start[0] = 0;
    for (int v = 0; v < 256; v++) start[v + 1] = start[v] + count[v];
    Py_ssize_t next[256];
    memcpy(next, start, sizeof(next));
    for (int y = 0; y < height; y++) {
        const uint8_t *row = q + (Py_ssize_t)y * width;
        for (int x = 0; x < width; x++) {
            Pixel *px = &order[next[row[x]]++];
            px->x = x;
            px->y = y;
        }
    }
}

static inline int neighbour_mask(const int32_t *parent, int32_t cell, const int32_t offset[8]) {
    int mask = 0;
    for (int i = 0; i < 8; i++) mask |= (parent[cell + offset[i]] != NOT_IN_SET) << i;
    return mask;
}

/* Padded-grid offsets of the 8 neighbours, in ring order, for a padded row width pw. */
static void ring_offsets(int pw, int32_t offset[8]) {
    for (int i = 0; i < 8; i++) offset[i] = RING_DY[i] * pw + RING_DX[i];
}

/* Add the value-sorted pixel px to the set (uniting per the groups table `reps`); returns its root, or -1
 * when out of memory, and the pixel's neighbourhood mask in *mask. */
static inline int32_t add_sorted_pixel(Forest *f, Pixel px, int width, int pw, const int32_t offset[8],
                                       int8_t reps[256][5], int *mask) {
    int32_t cell = (px.y + 1) * pw + px.x + 1;
    *mask = neighbour_mask(f->parent, cell, offset);
    return add_pixel(f, cell, px.x, px.y, px.y * width + px.x, reps[*mask], offset);
}

/* 2 * contourArea of the outer border of the foreground component with root r: flood the complement
 * of S (4-connected) from the rim of its bbox grown by one; what is not reached is fill(S); then sum
 * max(0, k - 2) over the windows of the grown box. */
static int64_t filled_area2(Forest *f, int32_t id, int padded_width, uint8_t *mark, int32_t *stack) {
    const Comp *c = &f->comps[id];
    const int32_t r = c->root;
    int gx0 = c->x0, gy0 = c->y0; /* padded coordinates of the grown box's corner */
    int gw = c->x1 - c->x0 + 3, gh = c->y1 - c->y0 + 3;
    /* mark: 1 = in S, 0 = not in S and not reached yet, 2 = reached from the rim (outside fill(S)) */
    for (int yy = 0; yy < gh; yy++) {
        const int32_t row = (gy0 + yy) * padded_width + gx0;
        for (int xx = 0; xx < gw; xx++) {
            int32_t cell = row + xx;
            mark[yy * gw + xx] = f->parent[cell] != NOT_IN_SET && find_root(f->parent, cell) == r;
        }
    }
    int32_t top = 0;
    for (int xx = 0; xx < gw; xx++) {
        mark[xx] = 2;
        stack[top++] = xx;
        mark[(gh - 1) * gw + xx] = 2;
        stack[top++] = (gh - 1) * gw + xx;
    }
    for (int yy = 1; yy < gh - 1; yy++) {
        mark[yy * gw] = 2;
        stack[top++] = yy * gw;
        mark[yy * gw + gw - 1] = 2;
        stack[top++] = yy * gw + gw - 1;
    }
    while (top > 0) {
        int32_t m = stack[--top];
        int my = m / gw, mx = m % gw;
        if (mx > 0 && mark[m - 1] == 0) mark[m - 1] = 2, stack[top++] = m - 1;
        if (mx < gw - 1 && mark[m + 1] == 0) mark[m + 1] = 2, stack[top++] = m + 1;
        if (my > 0 && mark[m - gw] == 0) mark[m - gw] = 2, stack[top++] = m - gw;
        if (my < gh - 1 && mark[m + gw] == 0) mark[m + gw] = 2, stack[top++] = m + gw;
    }
    int64_t total = 0;
    for (int yy = 0; yy + 1 < gh; yy++) {
        const uint8_t *row = mark + yy * gw, *next = row + gw;
        for (int xx = 0; xx + 1 < gw; xx++) {
            int k = (row[xx] != 2) + (row[xx + 1] != 2) + (next[xx] != 2) + (next[xx + 1] != 2);
            if (k > 2) total += k - 2;
        }
    }
    return total;
}

/* Single-contour winner among the live components (returns its id): the largest 2 * contourArea, then
 * the larger first pixel. Compacts the live list. Exact areas are computed only for components whose
 * upper bound reaches the best lower bound, and only when more than one component does. */
static int32_t largest_contour(Forest *f, int padded_width, uint8_t *mark, int32_t *stack) {
    int64_t best_lower = -1;
    int32_t kept = 0;
    for (int32_t i = 0; i < f->num_live; i++) {
        int32_t id = f->live[i];
        if (!is_alive(f, id)) continue;
        f->live[kept++] = id;
        Comp *c = &f->comps[id];
        if (c->euler4 == 4) c->filled2 = c->area2; /* no hole: fill(S) = S */
        int64_t lower = c->filled2 >= 0 ? c->filled2 : c->area2;
        if (lower > best_lower) best_lower = lower;
    }
    f->num_live = kept;
    int32_t winner = -1, candidates = 0;
    for (int32_t i = 0; i < f->num_live; i++) {
        const Comp *c = &f->comps[f->live[i]];
        int64_t upper = c->filled2 >= 0 ? c->filled2 : 2 * (int64_t)(c->x1 - c->x0) * (c->y1 - c->y0);
        if (upper >= best_lower) {
            candidates++;
            winner = f->live[i];
        }
    }
    if (candidates == 1) return winner; /* its area >= best_lower > every other upper bound */
    winner = -1;
    int64_t win_area = -1;
    for (int32_t i = 0; i < f->num_live; i++) {
        int32_t id = f->live[i];
        Comp *c = &f->comps[id];
        int64_t upper = c->filled2 >= 0 ? c->filled2 : 2 * (int64_t)(c->x1 - c->x0) * (c->y1 - c->y0);
        if (upper < best_lower) continue;
        if (c->filled2 < 0) c->filled2 = filled_area2(f, id, padded_width, mark, stack);
        if (c->filled2 > win_area || (c->filled2 == win_area && c->first > f->comps[winner].first)) {
            win_area = c->filled2;
            winner = id;
        }
    }
    return winner;
}

/* Per-level scores of the foreground pass: the largest contour's IoU (single-contour mode, when `single`
 * is not NULL) and the best IoU over every live component (multi-contour mode, when `multi` is not NULL).
 * Both read the same per-component IoU cache, so a component's IoU is computed once for both modes. */
static void score_foreground_level(Forest *f, int width, int height, const int64_t *gt, Py_ssize_t k,
                                   int pw, uint8_t *mark, int32_t *stack, double *single, double *multi) {
    if (single) { /* largest_contour also drops the dead components from the live list */
        Comp *c = &f->comps[largest_contour(f, pw, mark, stack)];
        if (c->iou < 0) c->iou = component_iou(c, width, height, gt, k);
        *single = c->iou;
    }
    if (!multi) return;
    double level_best = 0.0;
    int32_t kept = 0;
    for (int32_t i = 0; i < f->num_live; i++) {
        int32_t id = f->live[i];
        if (!is_alive(f, id)) continue;
        f->live[kept++] = id;
        Comp *c = &f->comps[id];
        if (c->iou < 0) c->iou = component_iou(c, width, height, gt, k);
        if (c->iou > level_best) level_best = c->iou;
    }
    f->num_live = kept;
    *multi = level_best;
}

/* Foreground pass, both modes from one union-find: out_single[v] = best IoU of the largest contour's box
 * and out_multi[v] = best IoU of the component boxes at the foreground {q >= v}, for v = qmax .. 1.
 * Either output may be NULL (that mode is skipped; single-contour bookkeeping only runs when wanted). */
static int foreground_pass(int width, int height, const int64_t *gt, Py_ssize_t k, const Pixel *order,
                           const Py_ssize_t start[257], int qmax, double *out_single, double *out_multi) {
    const int pw = width + 2;
    const Py_ssize_t cells = (Py_ssize_t)pw * (height + 2);
    const int single = out_single != NULL;
    int32_t offset[8];
    ring_offsets(pw, offset);
    Forest f;
    uint8_t *mark = single ? malloc(cells) : NULL;
    int32_t *stack = single ? malloc(cells * sizeof(int32_t)) : NULL;
    int ok = forest_alloc(&f, cells) && (!single || (mark && stack));
    if (!ok) goto done;
    for (int v = qmax; v >= 1; v--) {
        if (start[v] == start[v + 1]) { /* no pixel of this value: same foreground as at v + 1 */
            if (single) out_single[v] = v < qmax ? out_single[v + 1] : 0.0;
            if (out_multi) out_multi[v] = v < qmax ? out_multi[v + 1] : 0.0;
            continue;
        }
        for (Py_ssize_t i = start[v]; i < start[v + 1]; i++) {
            int mask;
            int32_t root = add_sorted_pixel(&f, order[i], width, pw, offset, REPS8, &mask);
            if (root < 0) {
                ok = 0;
                goto done;
            }
            if (single) {
                Comp *c = comp_of(&f, root);
                c->area2 += DAREA2[mask];
                c->euler4 += DEULER4[mask];
                c->filled2 = -1;
                c->iou = -1.0;
            }
        }
        score_foreground_level(&f, width, height, gt, k, pw, mark, stack, single ? &out_single[v] : NULL,
                               out_multi ? &out_multi[v] : NULL);
    }
done:
    forest_free(&f);
    free(mark);
    free(stack);
    return ok;
}

/* Background pass (multi-contour mode): out[v] = max(out[v], best IoU of the hole boxes at foreground
 * {q >= v}); holes are the 4-connected components of {q <= v - 1} that do not touch the border, and a
 * hole's box is its bbox grown by one, then the +1 / clip rule. */
static int hole_pass(int width, int height, const int64_t *gt, Py_ssize_t k, const Pixel *order,
                     const Py_ssize_t start[257], int qmax, double out[256]) {
    const int pw = width + 2;
    const Py_ssize_t cells = (Py_ssize_t)pw * (height + 2);
    int32_t offset[8];
    ring_offsets(pw, offset);
    Forest f;
    int ok = forest_alloc(&f, cells);
    if (!ok) goto done;
    double last = 0.0;
    for (int u = 0; u < qmax; u++) {
        if (start[u] != start[u + 1]) {
            for (Py_ssize_t i = start[u]; i < start[u + 1]; i++) {
                int mask, x = order[i].x, y = order[i].y;
                int32_t root = add_sorted_pixel(&f, order[i], width, pw, offset, REPS4, &mask);
                if (root < 0) {
                    ok = 0;
                    goto done;
                }
                comp_of(&f, root)->border |= x == 0 || y == 0 || x == width - 1 || y == height - 1;
            }
            last = 0.0;
            int32_t kept = 0;
            for (int32_t i = 0; i < f.num_live; i++) {
                int32_t id = f.live[i];
                Comp *c = &f.comps[id];
                if (!is_alive(&f, id) || c->border) continue; /* a border component never becomes a hole */
                f.live[kept++] = id;
                if (c->iou < 0) {
                    int64_t x1 = c->x1 + 2 < width ? c->x1 + 2 : width - 1;
                    int64_t y1 = c->y1 + 2 < height ? c->y1 + 2 : height - 1;
                    c->iou = best_iou(c->x0 - 1, c->y0 - 1, x1, y1, gt, k);
                }
                if (c->iou > last) last = c->iou;
            }
            f.num_live = kept;
        }
        if (last > out[u + 1]) out[u + 1] = last;
    }
done:
    forest_free(&f);
    return ok;
}

/* Check the buffers and run the passes: the single-contour values of v = 0..255 when want_single, then
 * the multi-contour ones when want_multi (one sort, one foreground union-find for both). Returns bytes
 * of 256 float64 per mode wanted, or NULL with an exception set. The caller releases the buffers. */
static PyObject *run_core(const Py_buffer *qbuf, int height, int width, const Py_buffer *gtbuf,
                          int want_single, int want_multi) {
    Py_ssize_t n = (Py_ssize_t)width * height;
    if (height < 1 || width < 1 || qbuf->len != n || n > INT32_MAX / 2) {
        PyErr_Format(PyExc_ValueError, "q must hold height * width = %zd uint8 values; got %zd bytes", n,
                     qbuf->len);
        return NULL;
    }
    if (gtbuf->len == 0 || gtbuf->len % (4 * sizeof(int64_t)) != 0) {
        PyErr_SetString(PyExc_ValueError, "gt must be a non-empty (K, 4) int64 array");
        return NULL;
    }
    const uint8_t *q = qbuf->buf;
    const int64_t *gt = gtbuf->buf;
    Py_ssize_t k = gtbuf->len / (4 * sizeof(int64_t));
    double out[512] = {0.0};
    double *out_single = want_single ? out : NULL;
    double *out_multi = want_multi ? out + 256 * want_single : NULL;
    int qmax = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (q[i] > qmax) qmax = q[i];
    Pixel *order = malloc(n * sizeof(Pixel));
    if (!order) return PyErr_NoMemory();
    Py_ssize_t start[257];
    int ok;
    Py_BEGIN_ALLOW_THREADS;
    sort_by_value(q, width, height, order, start);
    ok = foreground_pass(width, height, gt, k, order, start, qmax, out_single, out_multi);
    if (ok && want_multi) ok = hole_pass(width, height, gt, k, order, start, qmax, out_multi);
    Py_END_ALLOW_THREADS;
    free(order);
    if (!ok) return PyErr_NoMemory();
    return PyBytes_FromStringAndSize((const char *)out, 256 * sizeof(double) * (want_single + want_multi));
}

static PyObject *best_ious_per_value(PyObject *self, PyObject *args) {
    Py_buffer qbuf, gtbuf;
    int width, height, multi;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*iiy*p", &qbuf, &height, &width, &gtbuf, &multi)) return NULL;
    PyObject *result = run_core(&qbuf, height, width, &gtbuf, !multi, multi);
    PyBuffer_Release(&qbuf);
    PyBuffer_Release(&gtbuf);
    return result;
}

static PyObject *best_ious_per_value_both(PyObject *self, PyObject *args) {
    Py_buffer qbuf, gtbuf;
    int width, height;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*iiy*", &qbuf, &height, &width, &gtbuf)) return NULL;
    PyObject *result = run_core(&qbuf, height, width, &gtbuf, 1, 1);
    PyBuffer_Release(&qbuf);
    PyBuffer_Release(&gtbuf);
    return result;
}

static PyMethodDef methods[] = {
    {"best_ious_per_value", best_ious_per_value, METH_VARARGS,
     "best_ious_per_value(q, height, width, gt, multi_contour) -> bytes\n\n"
     "q: C-contiguous uint8 (height, width) map; gt: C-contiguous int64 (K, 4) inclusive boxes.\n"
     "Returns 256 float64 values (native byte order): entry v in 1..max(q) is the best IoU between the\n"
     "boxes of the foreground {q >= v} (every contour's, or the largest contour's) and the GT boxes;\n"
     "the other entries are 0."},
    {"best_ious_per_value_both", best_ious_per_value_both, METH_VARARGS,
     "best_ious_per_value_both(q, height, width, gt) -> bytes\n\n"
     "Both contour modes from one sort and one foreground union-find: 512 float64 values (native byte\n"
     "order), the first 256 as best_ious_per_value(..., False), the last 256 as best_ious_per_value(...,\n"
     "True)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cam_levels",
                                    "Compiled core of wsl.metrics.boxes (one-pass boxes at all levels).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__cam_levels(void) {
    build_tables();
    return PyModule_Create(&module);
}
