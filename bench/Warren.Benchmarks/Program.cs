using BenchmarkDotNet.Running;
using Warren.Benchmarks;

// dotnet run -c Release --project bench/Warren.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args, new BenchmarkConfig());
