// The MPI backend (engine/collective.h): host MPI calls, CUDA buffers staged through the host.
// Built only where CMake found MPI (VDSR_HAVE_MPI).
#include <mpi.h>

#include <climits>
#include <vector>

#include "engine/buffer.h"
#include "engine/collective_backends.h"
#include "engine/error.h"

namespace vdsr {

namespace {

#define VDSR_MPI(call)                                                          \
  do {                                                                          \
    const int vdsr_mpi_rc_ = (call);                                            \
    VDSR_CHECK(vdsr_mpi_rc_ == MPI_SUCCESS, #call " failed (" << vdsr_mpi_rc_ << ")"); \
  } while (0)

class MpiCollective final : public Collective {
 public:
  using Collective::Collective;
  const char* name() const override { return "mpi"; }
  bool capturable(Device) const override { return false; }

  // Slice s of the n values belongs to rank s: every rank sends it its slice of data
  // (MPI_Alltoallv), the owner adds the R copies in rank order in double and scales by 1 / R
  // (rounding once to float), and the slices go back to every rank (MPI_Allgatherv). The order of
  // every sum is fixed, so the result is the same on every rank and in every run.
  void average(float* data, int64_t n, Device device) override {
    const int R = size(), me = rank();
    VDSR_CHECK(n >= 0 && n / R < INT_MAX / 2, "too many values to average over MPI: " << n);
    float* host = data;
    if (device.is_cuda()) {
      staging_.resize(size_t(n));
      copy_bytes(Device::cpu(), staging_.data(), device, data, size_t(n) * sizeof(float));
      host = staging_.data();
    }
    const size_t ranks = size_t(R);
    std::vector<int> counts(ranks), displs(ranks);
    for (int s = 0, at = 0; s < R; ++s) {
      counts[size_t(s)] = int(n / R + (s < n % R ? 1 : 0));
      displs[size_t(s)] = at;
      at += counts[size_t(s)];
    }
    const int mine = counts[size_t(me)];
    std::vector<int> rcounts(ranks, mine), rdispls(ranks);
    for (int q = 0; q < R; ++q) rdispls[size_t(q)] = q * mine;
    gathered_.resize(size_t(R) * size_t(mine));
    VDSR_MPI(MPI_Alltoallv(host, counts.data(), displs.data(), MPI_FLOAT, gathered_.data(), rcounts.data(),
                           rdispls.data(), MPI_FLOAT, MPI_COMM_WORLD));
    const double scale = 1.0 / double(R);
    float* slice = host + displs[size_t(me)];
    for (int i = 0; i < mine; ++i) {
      double s = 0.0;
      for (int q = 0; q < R; ++q) s += double(gathered_[size_t(q) * size_t(mine) + size_t(i)]);
      slice[i] = float(s * scale);
    }
    VDSR_MPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, host, counts.data(), displs.data(), MPI_FLOAT,
                            MPI_COMM_WORLD));
    if (device.is_cuda()) copy_bytes(device, data, Device::cpu(), host, size_t(n) * sizeof(float));
  }

  void sum(double* v, int n) override {
    std::vector<double> all(size_t(size()) * size_t(n));
    VDSR_MPI(MPI_Allgather(v, n, MPI_DOUBLE, all.data(), n, MPI_DOUBLE, MPI_COMM_WORLD));
    for (int i = 0; i < n; ++i) {
      double s = 0.0;
      for (int q = 0; q < size(); ++q) s += all[size_t(q) * size_t(n) + size_t(i)];
      v[i] = s;
    }
  }

  void max(double* v, int n) override {
    VDSR_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  }

 private:
  std::vector<float> staging_, gathered_;
};

}  // namespace

bool mpi_compiled() { return true; }

RankInfo mpi_start(const RankInfo& env) {
  int initialised = 0;
  VDSR_MPI(MPI_Initialized(&initialised));
  if (!initialised) {
    int provided = 0;
    // Only the main thread calls MPI (the CPU thread pool never does).
    VDSR_MPI(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
  }
  RankInfo r = env;
  VDSR_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &r.rank));
  VDSR_MPI(MPI_Comm_size(MPI_COMM_WORLD, &r.size));
  VDSR_USER_CHECK(r.size == env.size,
                  env.source << "'s variables say " << env.size << " processes but MPI sees " << r.size
                             << ": start the ranks with mpirun, or with srun and an MPI built for Slurm "
                                "(srun --mpi=pmix); a batch script must not run vdsr_train without srun");
  MPI_Comm local;
  VDSR_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, r.rank, MPI_INFO_NULL, &local));
  VDSR_MPI(MPI_Comm_rank(local, &r.local_rank));
  VDSR_MPI(MPI_Comm_size(local, &r.local_size));
  VDSR_MPI(MPI_Comm_free(&local));
  r.source += "+mpi";
  return r;
}

void mpi_finish() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Finalize();
}

std::unique_ptr<Collective> make_mpi_collective(const RankInfo& ranks) {
  return std::make_unique<MpiCollective>(ranks);
}

}  // namespace vdsr
