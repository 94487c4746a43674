using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Warren.Benchmarks;

/// <summary>
/// A ShortRun-like job (1 launch, 3 warm-ups, 5 iterations) so the whole suite takes a few minutes on 2 cores,
/// run in process: the generated benchmark project would otherwise be built under the repo's analyzers and
/// TreatWarningsAsErrors. Memory is measured for every benchmark (the DATA path must allocate nothing).
/// </summary>
internal sealed class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig()
    {
        // Start from the defaults: console logger, the usual columns and the markdown/CSV/HTML exporters.
        Add(DefaultConfig.Instance);
        AddJob(Job.Default
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(5)
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithId("Short"));
        AddDiagnoser(MemoryDiagnoser.Default);
        Options |= ConfigOptions.JoinSummary;
    }
}
