"""The PyTorch Lightning adapters: `ScalingLawCallback` and `ForecastEarlyStopping` for both
namespaces (`lightning.pytorch` and `pytorch_lightning`), thin layers over tracking/ and core/."""
