/* shardlearn.h - the whole public API in one include.
 *
 * Data flows one way: a file on disk is read by every rank into its shard
 * (data.h), the objective sums the loss over the shards (objective.h), an
 * optimiser minimises it (optim.h), sl_train wires these together and
 * returns a model (train.h, model.h), and rank 0 records the run for MLflow
 * (track.h); runs.h reads finished runs back to compare them. comm.h wraps
 * the caller's communicator, sysmetrics.h samples every rank's memory, CPU
 * and collectives; status.h, log.h, clock.h and fileio.h are the shared
 * basics. version.h is generated. */
#ifndef SHARDLEARN_SHARDLEARN_H
#define SHARDLEARN_SHARDLEARN_H

#include "shardlearn/clock.h"
#include "shardlearn/comm.h"
#include "shardlearn/data.h"
#include "shardlearn/fileio.h"
#include "shardlearn/log.h"
#include "shardlearn/model.h"
#include "shardlearn/objective.h"
#include "shardlearn/optim.h"
#include "shardlearn/path.h"
#include "shardlearn/runs.h"
#include "shardlearn/status.h"
#include "shardlearn/sysmetrics.h"
#include "shardlearn/track.h"
#include "shardlearn/train.h"
#include "shardlearn/version.h"

#endif
