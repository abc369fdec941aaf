# CooRTweet 2.1.2's vignette recipe on a gen_posts.py file (bench/bench_coortweet.py runs this).
#
# Usage: Rscript coortweet_detect.R POSTS_CSV OUT_DIR SIGNALS [WINDOW_S] [EDGE_WEIGHT]
#   SIGNALS: comma-separated of link, hashtag, text, reply, retweet (each prepared as the vignette's
#   multi-modal section does: prep_data -> unique -> drop NA -> prefix the object id; text: originals
#   only, as coordination-network-toolkit's co_tweet; then
#   detect_groups(time_window, min_participation = 2) per signal, rbindlist, and
#   generate_coordinated_network(edge_weight) at its defaults otherwise).
# Writes OUT_DIR/steps.csv (step, seconds, status, message) and OUT_DIR/vertices.csv (account_id,
# above_threshold: 1 when an edge of the account is above the edge_weight percentile).
suppressPackageStartupMessages({
  library(data.table)
  library(CooRTweet)
  library(igraph)
})
args <- commandArgs(trailingOnly = TRUE)
posts_csv <- args[1]
out_dir <- args[2]
signals <- strsplit(args[3], ",")[[1]]
window <- if (length(args) >= 4) as.numeric(args[4]) else 60
edge_weight <- if (length(args) >= 5) as.numeric(args[5]) else 0.5
setDTthreads(as.integer(Sys.getenv("DT_THREADS", "1")))
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

steps <- data.table(step = character(), seconds = numeric(), status = character(), message = character())
timed <- function(name, expr) {
  t <- proc.time()[["elapsed"]]
  val <- tryCatch(expr, error = function(e) e)
  dt <- proc.time()[["elapsed"]] - t
  failed <- inherits(val, "error")
  steps <<- rbind(steps, data.table(step = name, seconds = dt, status = if (failed) "error" else "ok",
                                    message = if (failed) conditionMessage(val) else ""))
  fwrite(steps, file.path(out_dir, "steps.csv"))
  if (failed) NULL else val
}

posts <- timed("load", fread(posts_csv, colClasses = "character", encoding = "UTF-8"))
posts[, timestamp := as.integer(timestamp)]

# one long table (object_id, account_id, content_id, timestamp_share) per signal, as in the vignette
long <- function(object, prefix) {
  d <- data.table(object_id = object$object_id, account_id = object$user_id, content_id = object$message_id,
                  timestamp_share = object$timestamp)
  d <- unique(d, by = c("object_id", "account_id", "content_id", "timestamp_share"))
  d <- d[!is.na(object_id) & object_id != ""]
  d$object_id <- paste0(prefix, d$object_id)
  d
}
split_col <- function(col, pattern) {
  parts <- regmatches(posts[[col]], gregexpr(pattern, posts[[col]], perl = TRUE))
  n <- lengths(parts)
  data.table(object_id = unlist(parts), user_id = rep(posts$user_id, n), message_id = rep(posts$message_id, n),
             timestamp = rep(posts$timestamp, n))
}
prepare <- list(
  link = function() long(split_col("urls", "\\S+"), "url_"),
  hashtag = function() long({ h <- split_col("message", "#\\w+"); h[, object_id := tolower(object_id)]; h }, "tag_"),
  # the exact text of original posts (a retweet's "RT @user: ..." text is the retweet signal's object)
  text = function() long(posts[repost_id == "", .(object_id = message, user_id, message_id, timestamp)], "text_"),
  reply = function() long(posts[, .(object_id = reply_id, user_id, message_id, timestamp)], "reply_"),
  retweet = function() long(posts[, .(object_id = repost_id, user_id, message_id, timestamp)], "rt_")
)

results <- list()
for (s in signals) {
  d <- timed(paste0("prepare_", s), prepare[[s]]())
  if (is.null(d)) next
  r <- timed(paste0("detect_groups_", s), detect_groups(d, time_window = window, min_participation = 2))
  if (!is.null(r)) results[[s]] <- r
  rm(d); gc()
}
if (length(results)) {
  combined <- rbindlist(results, use.names = TRUE, fill = TRUE)
  g <- timed("generate_coordinated_network", generate_coordinated_network(combined, edge_weight = edge_weight))
  if (!is.null(g)) {
    el <- as_data_frame(g, what = "edges")
    above <- unique(c(el$from[el$weight_threshold == 1], el$to[el$weight_threshold == 1]))
    v <- V(g)$name
    fwrite(data.table(account_id = v, above_threshold = as.integer(v %in% above)), file.path(out_dir, "vertices.csv"))
  }
}
