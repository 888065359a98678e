"""What is counted during training, with torch and without any training framework: parameters N,
tokens D, and the planned learning-rate schedule."""
