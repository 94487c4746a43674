namespace Warren.FaultTests.Harness;

/// <summary>
/// The backend and client scenarios run one at a time, after every parallel test: the slow-reader test measures
/// the managed heap (the edge and agent live in the test process), and under the whole suite's parallel load
/// (load average above 10 on two cores) a starved thread pool made loopback dials to their backends time out.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClientIsolatedCollection
{
    public const string Name = "backend and client faults, alone";
}
