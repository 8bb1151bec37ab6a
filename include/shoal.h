/* SPDX-License-Identifier: MIT */
/* shoal: brokerless shared-memory IPC for Linux. The one header users include. */
#ifndef SHOAL_H
#define SHOAL_H

#include "shoal/common.h"
#include "shoal/segment.h"
#include "shoal/ring_spsc.h"
#include "shoal/notify.h"
#include "shoal/channel.h"
#include "shoal/registry.h"
#include "shoal/pubsub.h"
#include "shoal/ring_mpmc.h"
#include "shoal/ring_var.h"
#include "shoal/queue.h"
#include "shoal/rpc.h"
#include "shoal/event.h"
#include "shoal/store.h"
#include "shoal/tensor.h"

#endif
