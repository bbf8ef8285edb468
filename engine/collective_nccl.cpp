// The NCCL backend (engine/collective.h): CUDA buffers averaged on the device, on the engine's
// stream, so the step stays queued (and can sit inside the recorded CUDA graph). The communicator
// starts from a unique id made by rank 0 and broadcast over MPI; host values go over MPI. Built
// only where CMake found NCCL and MPI (VDSR_HAVE_NCCL).
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include "engine/buffer.h"
#include "engine/collective_backends.h"
#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "engine/log.h"

#if NCCL_VERSION_CODE < 21000
#error "NCCL 2.10 or later is needed (ncclAvg)"
#endif

namespace vdsr {

namespace {

#define VDSR_NCCL(call)                                                                   \
  do {                                                                                    \
    const ncclResult_t vdsr_nccl_rc_ = (call);                                            \
    VDSR_CHECK(vdsr_nccl_rc_ == ncclSuccess, #call " failed: " << ncclGetErrorString(vdsr_nccl_rc_)); \
  } while (0)

class NcclCollective final : public Collective {
 public:
  NcclCollective(const RankInfo& ranks, Device device)
      : Collective(ranks), device_(device), host_(make_mpi_collective(ranks)) {
    VDSR_CHECK(device.is_cuda(), "the NCCL backend needs a CUDA device, not " << device.name());
    ncclUniqueId id{};
    if (rank() == 0) VDSR_NCCL(ncclGetUniqueId(&id));
    VDSR_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) == MPI_SUCCESS, "MPI_Bcast of the NCCL id failed");
    VDSR_CUDA_CHECK(cudaSetDevice(device.index));
    VDSR_NCCL(ncclCommInitRank(&comm_, size(), id, rank()));
    int version = 0;
    ncclGetVersion(&version);
    if (rank() == 0) log_verbose("NCCL " + std::to_string(version) + " over " + std::to_string(size()) + " ranks");
  }
  ~NcclCollective() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }

  const char* name() const override { return "nccl"; }
  bool capturable(Device device) const override { return device.is_cuda(); }

  // Through a buffer padded to a multiple of the ranks: each rank's slice is averaged once
  // (ncclReduceScatter with ncclAvg, in place) and gathered to every rank (ncclAllGather, in
  // place), so every rank gets the same bits. Queued on the engine stream; no host wait.
  void average(float* data, int64_t n, Device device) override {
    VDSR_CHECK(device == device_, "NCCL communicator of " << device_.name() << " used for " << device.name());
    const size_t chunk = size_t((n + size() - 1) / size());
    const size_t bytes = chunk * size_t(size()) * sizeof(float);
    if (padded_.bytes() < bytes) {  // the first step, before any graph records this
      padded_ = Buffer(device_, bytes);
      padded_.zero();
    }
    cudaStream_t stream = cuda_stream(device_.index);
    float* pad = static_cast<float*>(padded_.data());
    float* mine = pad + chunk * size_t(rank());
    VDSR_CUDA_CHECK(cudaMemcpyAsync(pad, data, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, stream));
    VDSR_NCCL(ncclReduceScatter(pad, mine, chunk, ncclFloat, ncclAvg, comm_, stream));
    VDSR_NCCL(ncclAllGather(mine, pad, chunk, ncclFloat, comm_, stream));
    VDSR_CUDA_CHECK(cudaMemcpyAsync(data, pad, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  }

  void sum(double* v, int n) override { host_->sum(v, n); }
  void max(double* v, int n) override { host_->max(v, n); }

 private:
  Device device_;
  std::unique_ptr<Collective> host_;
  ncclComm_t comm_ = nullptr;
  Buffer padded_;
};

}  // namespace

bool nccl_compiled() { return true; }

std::unique_ptr<Collective> make_nccl_collective(const RankInfo& ranks, Device device) {
  return std::make_unique<NcclCollective>(ranks, device);
}

}  // namespace vdsr
