#include "engine/collective.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "engine/collective_backends.h"
#include "engine/error.h"
#include "engine/log.h"
#include "engine/thread_pool.h"

namespace vdsr {

namespace {

// A launcher's count or index: a non-negative integer, or a UserError naming the variable.
int env_int(const char* name, const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  VDSR_USER_CHECK(end != text && v >= 0 && v < (1L << 30),
                  "the launcher's variable " << name << "='" << printable(text) << "' is not a count or index");
  return int(v);
}

// The first count of SLURM_TASKS_PER_NODE ("8(x2)", "2,1", "4"): the tasks on the first node,
// the local count where every node runs as many (MPI gives the exact count once it starts).
int slurm_tasks_per_node(const char* text) {
  const char* p = text;
  while (*p >= '0' && *p <= '9') ++p;
  return p == text ? 1 : std::max(1, env_int("SLURM_TASKS_PER_NODE", std::string(text, p).c_str()));
}

class NoCollective final : public Collective {
 public:
  using Collective::Collective;
  const char* name() const override { return "none"; }
  void average(float*, int64_t, Device) override {}
  bool capturable(Device) const override { return true; }
  void sum(double*, int) override {}
  void max(double*, int) override {}
};

}  // namespace

RankInfo ranks_from_environment(const std::function<const char*(const char*)>& getenv) {
  RankInfo r;
  struct Scheme {
    const char *source, *rank, *size, *local_rank, *local_size;
  };
  // mpirun first: under `srun mpirun` (rare) the inner launcher's view is the one that counts.
  static const Scheme schemes[] = {
      {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
       "OMPI_COMM_WORLD_LOCAL_SIZE"},
      {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", nullptr},
      {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
  };
  for (const Scheme& s : schemes) {
    const char* rank = getenv(s.rank);
    const char* size = getenv(s.size);
    if (rank == nullptr || size == nullptr) continue;
    r.source = s.source;
    r.rank = env_int(s.rank, rank);
    r.size = env_int(s.size, size);
    VDSR_USER_CHECK(r.size >= 1 && r.rank < r.size,
                    "the launcher's variables say rank " << r.rank << " of " << r.size << " (" << s.rank << ", "
                                                         << s.size << ")");
    const char* lr = getenv(s.local_rank);
    r.local_rank = lr != nullptr ? env_int(s.local_rank, lr) : 0;
    if (s.local_size != nullptr && getenv(s.local_size) != nullptr)
      r.local_size = std::max(1, env_int(s.local_size, getenv(s.local_size)));
    else if (const char* tpn = getenv("SLURM_NTASKS_PER_NODE"))
      r.local_size = std::max(1, env_int("SLURM_NTASKS_PER_NODE", tpn));
    else if (const char* tpn2 = getenv("SLURM_TASKS_PER_NODE"))
      r.local_size = slurm_tasks_per_node(tpn2);
    else
      r.local_size = lr != nullptr ? r.local_rank + 1 : 1;
    r.local_size = std::max(r.local_size, r.local_rank + 1);
    return r;
  }
  return r;
}

const RankInfo& process_ranks() {
  static const RankInfo ranks = [] {
    RankInfo r = ranks_from_environment([](const char* name) { return std::getenv(name); });
    if (r.size <= 1) return r;
    VDSR_USER_CHECK(mpi_compiled(),
                    "this process was launched as rank " << r.rank << " of " << r.size << " (by " << r.source
                        << ") but this build has no MPI: install libopenmpi-dev (./setup.sh) and rebuild, or "
                           "run one process");
    r = mpi_start(r);
    if (std::getenv("VDSR_THREADS") == nullptr && r.local_size > 1) {
      const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
      ThreadPool::set_global_threads(std::max(1, cores / r.local_size));
    }
    return r;
  }();
  return ranks;
}

Device select_rank_device(int requested, const RankInfo& ranks) {
  if (requested != kDefaultDevice || ranks.size <= 1) return select_device(requested);
  // Each rank checks only the GPU it will take, so that no rank makes a context on another's.
  const int n = cuda_device_count();
  if (n == 0) return default_device(0);  // no GPU on any rank of a like machine
  if (ranks.local_size > n && ranks.local_rank == 0)
    log_warning(std::to_string(ranks.local_size) + " ranks on this machine share " + std::to_string(n) +
                " GPU(s) (each takes GPU local rank mod " + std::to_string(n) + "): give each rank a GPU of its own for speed");
  // A rank whose GPU is unusable stops rather than fall back alone: ranks on different devices
  // would pick different collectives and wait on each other for ever.
  const int gpu = ranks.local_rank % n;
  std::string why;
  VDSR_USER_CHECK(usable_cuda_devices(&why, gpu) > 0,
                  "rank " << ranks.rank << " cannot use GPU " << gpu << ": " << why << " (give -g -1 to train on the CPU)");
  return Device::cuda(gpu);
}

std::unique_ptr<Collective> make_collective(Device device) {
  const RankInfo& r = process_ranks();
  // Checked even for one process, so a mistyped value is found before a cluster job.
  const char* env = std::getenv("VDSR_COLLECTIVE");
  const std::string choice = env != nullptr ? env : "";
  VDSR_USER_CHECK(choice.empty() || choice == "auto" || choice == "mpi" || choice == "nccl",
                  "VDSR_COLLECTIVE=" << printable(choice) << " is not one of auto, nccl, mpi");
  VDSR_USER_CHECK(choice != "nccl" || r.size <= 1 || (device.is_cuda() && nccl_compiled()),
                  "VDSR_COLLECTIVE=nccl, but " << (device.is_cuda() ? "this build has no NCCL"
                                                                    : "the ranks train on the CPU")
                                               << ": leave it unset (auto) or set mpi");
  if (r.size <= 1) return std::make_unique<NoCollective>(r);
  const bool want_mpi = choice == "mpi";
  if (device.is_cuda() && nccl_compiled() && !want_mpi) {
    check_nccl_gpus(r, cuda_device_count());
    return make_nccl_collective(r, device);
  }
  return make_mpi_collective(r);
}

void check_nccl_gpus(const RankInfo& ranks, int gpus) {
  VDSR_USER_CHECK(ranks.local_size <= gpus,
                  ranks.local_size << " ranks on this machine share " << gpus
                                   << " GPU(s), and NCCL takes one GPU per rank: start at most " << gpus
                                   << " ranks per machine, or set VDSR_COLLECTIVE=mpi to reduce through the host");
}

void finalize_ranks() {
  if (process_ranks().size > 1) mpi_finish();
}

#ifndef VDSR_HAVE_MPI
bool mpi_compiled() { return false; }
RankInfo mpi_start(const RankInfo& r) { return r; }
void mpi_finish() {}
std::unique_ptr<Collective> make_mpi_collective(const RankInfo&) {
  VDSR_FAIL("this build has no MPI backend");
}
#endif
#ifndef VDSR_HAVE_NCCL
bool nccl_compiled() { return false; }
std::unique_ptr<Collective> make_nccl_collective(const RankInfo&, Device) {
  VDSR_FAIL("this build has no NCCL backend");
}
#endif

}  // namespace vdsr
