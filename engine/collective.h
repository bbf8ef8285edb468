// The processes of a data-parallel run and the collectives between them.
//
// Ranks come from the launcher: mpirun (OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK /
// _LOCAL_SIZE; MPICH's PMI_RANK / PMI_SIZE) or Slurm's srun (SLURM_PROCID / SLURM_NTASKS /
// SLURM_LOCALID, the local count from SLURM_TASKS_PER_NODE). A process started alone is rank 0 of
// 1 and never starts MPI. When the launcher says there are several, MPI is initialised and its
// world communicator is the authority (rank and size from MPI_Comm_rank / _size, the local rank
// from MPI_Comm_split_type over shared memory); a build without MPI refuses such a launch.
//
// Backends (make_collective): none (one process); MPI (host MPI calls; device buffers are staged
// through the host: the CPU path); NCCL (CUDA buffers reduced on the device; the communicator's
// unique id is broadcast over MPI; built where NCCL was found). No backend has a protocol of ours
// on the wire: MPI and NCCL bootstrap themselves from the launcher.
//
// Determinism: every rank ends a collective with the same bits. The MPI backend fixes the
// reduction order itself (each rank owns a slice, gathers that slice from every rank with
// MPI_Alltoallv, sums it in rank order in double, and the slices are gathered back with
// MPI_Allgatherv), so results do not depend on MPI's algorithm either. NCCL reduces each slice
// once (ncclReduceScatter) and copies it to every rank (ncclAllGather): the same bits on every
// rank, in an order NCCL chooses (docs/training.md, "Many processes").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "engine/device.h"

namespace vdsr {

struct RankInfo {
  int rank = 0, size = 1;              // this process among all of the run
  int local_rank = 0, local_size = 1;  // among those on this machine
  std::string source;                  // "" (alone), "mpirun", "slurm", "pmi"; "+mpi" once MPI confirmed it
};

// The ranks the launcher's variables describe (`getenv` looks one up; null when unset). A
// UserError naming the variable when one is malformed or out of range.
RankInfo ranks_from_environment(const std::function<const char*(const char*)>& getenv);

// This process's ranks, worked out on the first call (and MPI started when there are several;
// see above). When VDSR_THREADS is unset and several ranks share the machine, the CPU thread
// pool is cut to cores / local ranks.
const RankInfo& process_ranks();

// True when this build has the MPI / NCCL backend.
bool mpi_compiled();
bool nccl_compiled();

// -g/--gpu for one rank of many: an explicit index as select_device(requested) gives it; the
// default is GPU (local rank mod the GPUs this process sees: per-task binding that leaves each
// rank one visible GPU also works), the CPU where the driver lists no GPU. A rank whose GPU cannot
// run this build stops with the reason (ranks on mixed devices could never meet in a collective).
Device select_rank_device(int requested, const RankInfo& ranks);

// Ends MPI after a run that went well on every rank (call it on every rank, or on none). A rank
// that fails exits without it, so the launcher ends the others instead of leaving them waiting.
void finalize_ranks();

class Collective {
 public:
  explicit Collective(RankInfo ranks) : ranks_(std::move(ranks)) {}
  virtual ~Collective() = default;
  Collective(const Collective&) = delete;
  Collective& operator=(const Collective&) = delete;

  const RankInfo& ranks() const { return ranks_; }
  int rank() const { return ranks_.rank; }
  int size() const { return ranks_.size; }
  virtual const char* name() const = 0;  // "none", "mpi", "nccl"

  // Every rank calls each collective, in the same order.
  // data[0 .. n) (floats on `device`) = the mean over the ranks of their data; on a CUDA device it
  // is queued on the engine stream (the NCCL backend) or done before returning (MPI).
  virtual void average(float* data, int64_t n, Device device) = 0;
  // Whether average() on `device` may be recorded into a CUDA graph (NCCL: yes; MPI: no).
  virtual bool capturable(Device device) const = 0;
  // Host values, element by element over the ranks: the sum (in rank order) and the maximum.
  virtual void sum(double* v, int n) = 0;
  virtual void max(double* v, int n) = 0;

 private:
  RankInfo ranks_;
};

// The backend for this process's ranks and device: none for one process; NCCL for a CUDA device
// in a build with NCCL; MPI otherwise. VDSR_COLLECTIVE=auto (or unset) chooses so, mpi chooses
// MPI, nccl insists on NCCL (refused in words where it cannot be had); anything else is refused.
std::unique_ptr<Collective> make_collective(Device device);

// NCCL refuses a communicator with two ranks on one GPU ("duplicate GPU"), which select_rank_device
// allows (ranks local rank mod GPUs): a UserError in words when more ranks than `gpus` share this
// machine, naming the ways out, before NCCL fails with its own.
void check_nccl_gpus(const RankInfo& ranks, int gpus);

}  // namespace vdsr
